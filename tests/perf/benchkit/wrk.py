"""wrk: find it, run it with a Lua script, read the one `WRKJSON {...}` line the script prints."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

INSTALL_HINT = "apt-get install -y wrk"
MARKER = "WRKJSON "
# Generous: wrk leaves timed-out requests out of the latency statistics, and a login storm
# at cost 12 legitimately queues for seconds.
TIMEOUT = "30s"


class WrkFailed(Exception):
    """wrk exited with an error or did not print its summary line."""


@dataclass(frozen=True)
class WrkResult:
    requests: int
    duration_s: float
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    mean_ms: float
    err_connect: int
    err_read: int
    err_write: int
    err_status: int
    err_timeout: int

    @property
    def socket_errors(self) -> int:
        return self.err_connect + self.err_read + self.err_write + self.err_timeout

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> WrkResult:
        return cls(**{name: data[name] for name in cls.__dataclass_fields__})


@dataclass(frozen=True)
class WrkJob:
    """One wrk invocation: URL, script, load shape and the script's environment."""

    url: str
    script: Path
    duration_s: float
    connections: int
    env: Mapping[str, str]
    threads: int = 2

    def argv(self, wrk: str) -> list[str]:
        return [
            wrk,
            f"-t{max(1, min(self.threads, self.connections))}",
            f"-c{self.connections}",
            f"-d{self.duration_s:g}s",
            f"--timeout={TIMEOUT}",
            "-s",
            str(self.script),
            self.url,
        ]


def find_wrk() -> str | None:
    return shutil.which("wrk")


def start(wrk: str, job: WrkJob) -> subprocess.Popen[str]:
    """Start wrk without waiting (for runs that must overlap, as in the login storm)."""
    return subprocess.Popen(  # noqa: S603 - our own argv, no shell
        job.argv(wrk),
        env={**os.environ, **job.env},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(process: subprocess.Popen[str], job: WrkJob) -> WrkResult:
    """Wait for a started wrk and parse its summary."""
    stdout, stderr = process.communicate(timeout=job.duration_s + 120)
    if process.returncode != 0:
        raise WrkFailed(f"wrk exited {process.returncode} on {job.url}: {stderr.strip()}")
    return parse(stdout, stderr)


def run(wrk: str, job: WrkJob) -> WrkResult:
    return finish(start(wrk, job), job)


def parse(stdout: str, stderr: str = "") -> WrkResult:
    for line in stdout.splitlines():
        if line.startswith(MARKER):
            return WrkResult.from_json(json.loads(line.removeprefix(MARKER)))
    raise WrkFailed(f"no {MARKER.strip()} line in wrk's output:\n{stdout}\n{stderr}")
