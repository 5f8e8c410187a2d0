"""Output: progress goes to stderr, the report to stdout (so `bench.py > table.md` works)."""

from __future__ import annotations

import sys


def say(message: str) -> None:
    """One line of progress on stderr."""
    print(message, file=sys.stderr, flush=True)  # noqa: T201 - a command-line tool


def emit(text: str) -> None:
    """Part of the report, on stdout."""
    sys.stdout.write(text if text.endswith("\n") else text + "\n")
    sys.stdout.flush()
