"""Helpers of the benchmark in `tests/perf/bench.py` (not a test module; pytest ignores it)."""
