"""Profiles under load: py-spy samples the Storefront workers while wrk drives one scenario.

One worker is recorded as an SVG flame graph (to look at), the other as collapsed stacks (to
count): both serve the same load. The collapsed stacks give each layer's share of the samples,
and the workers' CPU time over the run divided by the requests served gives the CPU cost of
one request, so each layer gets a cost in microseconds per request.

py-spy reads the workers' memory from outside (it needs ptrace: root, or CAP_SYS_PTRACE in a
container); it is a dev dependency, never a runtime one.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

SAMPLES_PER_SECOND = 250
# (layer, pattern of a frame's file): the innermost frame outside the standard library
# decides the layer of a sample, first rule that matches.
LAYERS: tuple[tuple[str, str], ...] = (
    ("logging", r"structlog|^logging/|storefront/core/logging|orjson"),
    ("metrics", r"prometheus_client|storefront/core/metrics"),
    ("edge middleware (ours)", r"storefront/core/(edge|middleware|routing)"),
    ("database", r"sqlalchemy|asyncpg|greenlet|aiosqlite|storefront/core/(database|reads)"),
    ("validation & serialisation", r"pydantic|fastapi/_compat|fastapi/encoders|core/responses"),
    (
        "dependencies",
        r"fastapi/dependencies|fastapi/params|fastapi/security|storefront/core/"
        r"(rate_limit|input_guards|request_checks|pagination)|storefront/auth/dependencies|limits",
    ),
    ("auth (JWT)", r"^jwt/|/jwt/|storefront/core/security"),
    ("framework (routing, Starlette/FastAPI middleware)", r"starlette|fastapi"),
    ("ASGI server & event loop", r"uvicorn|httptools|h11|uvloop|anyio|websockets"),
    ("our domain code", r"storefront/"),
)
_FRAME_FILE = re.compile(r"\(([^()]*?):\d+\)$")
_STDLIB = frozenset(sys.stdlib_module_names)


class ProfilerMissing(Exception):
    """py-spy is not installed (it comes with the dev dependencies: `uv sync`)."""


def find_py_spy() -> str:
    found = shutil.which("py-spy") or shutil.which("py-spy", path=str(Path(sys.executable).parent))
    if found is None:
        raise ProfilerMissing("py-spy not found: run `uv sync` (it is a dev dependency)")
    return found


def layer_of(stack: str) -> str:
    """The layer a collapsed stack (`frame;frame;...`, innermost last) is charged to."""
    for frame in reversed(stack.split(";")):
        match = _FRAME_FILE.search(frame)
        path = match.group(1) if match else frame
        if path.startswith("<") or path.split("/")[0].removesuffix(".py") in _STDLIB:
            continue  # the standard library: charged to whoever called it
        for name, pattern in LAYERS:
            if re.search(pattern, path):
                return name
        return "other libraries"
    return "ASGI server & event loop"  # only the loop's own frames


_EVENT_LOOP = "(asyncio/runners.py:"


def is_work(stack: str) -> bool:
    """A sample of the event loop's thread doing something. py-spy also samples threads that
    sleep (the worker's pipe to uvicorn's supervisor, idle thread pools) and the loop
    waiting for I/O (no Python frame below the runner): none of them costs CPU."""
    return _EVENT_LOOP in stack and _EVENT_LOOP not in stack.rsplit(";", 1)[-1]


def layer_shares(collapsed: Path) -> dict[str, float]:
    """Each layer's share of the working samples of a py-spy `--format raw` file."""
    counts: Counter[str] = Counter()
    for line in collapsed.read_text(encoding="utf-8", errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit() and is_work(stack):
            counts[layer_of(stack)] += int(count)
    total = sum(counts.values()) or 1
    return {name: count / total for name, count in counts.most_common()}


def cpu_seconds(pids: Sequence[int]) -> float:
    """User + system CPU time of these processes so far (from /proc)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / ticks


@dataclass(frozen=True)
class Recording:
    flamegraph: Path
    collapsed: Path
    processes: list[subprocess.Popen[bytes]]

    def wait(self) -> None:
        for process in self.processes:
            process.wait(timeout=120)


def record(py_spy: str, pids: Sequence[int], seconds: float, stem: Path) -> Recording:
    """Start py-spy on two workers for `seconds`: an SVG of the first, stacks of the second."""
    if len(pids) < 2:
        raise ValueError("profiling needs two workers (one drawn, one counted)")
    flamegraph, collapsed = stem.with_suffix(".svg"), stem.with_suffix(".collapsed.txt")
    common = ["record", "--nonblocking", "--rate", str(SAMPLES_PER_SECOND)]
    common += ["--duration", f"{seconds:.0f}"]
    runs = [
        [py_spy, *common, "--pid", str(pids[0]), "--format", "flamegraph", "-o", str(flamegraph)],
        [py_spy, *common, "--pid", str(pids[1]), "--format", "raw", "-o", str(collapsed)],
    ]
    log = stem.with_suffix(".py-spy.log").open("wb")
    processes = [
        subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)  # noqa: S603 - our argv
        for argv in runs
    ]
    time.sleep(1.0)  # py-spy attaches before the load starts
    return Recording(flamegraph, collapsed, processes)


def budget_table(shares: dict[str, float], cpu_us_per_request: float) -> str:
    """Markdown: each layer's share of the samples and its microseconds per request."""
    lines = [
        f"CPU per request (both workers, over the profiled run): {cpu_us_per_request:,.0f} µs",
        "",
        "| layer | share of samples | µs per request |",
        "|---|---:|---:|",
    ]
    for name, share in shares.items():
        lines.append(f"| {name} | {share:.1%} | {share * cpu_us_per_request:,.0f} |")
    return "\n".join(lines)
