"""Helpers of the benchmark in `tests/perf/bench.py` (not a test module; pytest ignores it).

The benchmark runs as a script, so the repository root is put on `sys.path` here: it shares
the test suite's helpers (`tests.support`) instead of keeping copies of them."""

import sys
from pathlib import Path

_REPOSITORY = str(Path(__file__).resolve().parents[3])
if _REPOSITORY not in sys.path:
    sys.path.insert(0, _REPOSITORY)
