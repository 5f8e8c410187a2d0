"""Server processes: start one, wait until it answers, find its workers, stop it cleanly.

Every server runs in its own session (process group), so a Ctrl-C in the terminal reaches
only the benchmark, which then stops the servers in order: SIGTERM to the uvicorn parent
(which drains and stops its workers), and SIGKILL to the group only if that times out.
"""

from __future__ import annotations

import contextlib
import gzip
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

from benchkit.console import say

STOP_TIMEOUT_SECONDS = 40.0


class ServerFailed(Exception):
    """A server exited early or did not become ready in time."""


@dataclass
class Server:
    name: str
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def log_tail(self, lines: int = 20) -> str:
        text = self.log_path.read_text(encoding="utf-8", errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def worker_pids(self) -> list[int]:
        """The uvicorn worker processes (spawned children of the parent), by pid."""
        return sorted(pid for pid in _children(self.pid) if _is_worker(pid))

    def stop(self) -> int | None:
        """SIGTERM to the uvicorn parent; SIGKILL to its process group if it hangs."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                say(f"{self.name}: no exit {STOP_TIMEOUT_SECONDS:.0f} s after SIGTERM; killing")
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.pid, signal.SIGKILL)
                self.process.wait()
        return self.process.returncode


def compress_log(path: Path) -> Path:
    """gzip a finished log in place: Storefront's JSON access log of a full run is ~150 MB."""
    target = path.with_name(path.name + ".gz")
    with path.open("rb") as source, gzip.open(target, "wb", compresslevel=6) as sink:
        shutil.copyfileobj(source, sink, 1 << 20)
    path.unlink()
    return target


def start_server(
    name: str,
    argv: Sequence[str],
    *,
    port: int,
    env: Mapping[str, str],
    cwd: Path,
    log_path: Path,
) -> Server:
    """Start `argv` with stdout and stderr into `log_path` (the caller waits for readiness)."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as log:
        process = subprocess.Popen(  # noqa: S603 - our own argv, no shell
            list(argv),
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return Server(name=name, url=f"http://127.0.0.1:{port}", process=process, log_path=log_path)


def wait_ready(server: Server, path: str, workers: int, timeout: float = 60.0) -> None:
    """Until `path` answers 200 and every worker is up; ServerFailed otherwise."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise ServerFailed(f"{server.name} exited early:\n{server.log_tail()}")
        if _answers(server.url + path) and len(server.worker_pids()) >= workers:
            return
        time.sleep(0.2)
    raise ServerFailed(f"{server.name} not ready after {timeout:.0f} s:\n{server.log_tail()}")


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _children(parent: int) -> list[int]:
    children = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and _parent_of(int(entry.name)) == parent:
            children.append(int(entry.name))
    return children


def _parent_of(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:  # gone meanwhile
        return None
    # "pid (comm) state ppid ...": comm may hold spaces and parentheses.
    return int(stat.rsplit(")", 1)[1].split()[1])


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _is_worker(pid: int) -> bool:
    # uvicorn spawns its workers with multiprocessing's "spawn" start method.
    command = _cmdline(pid)
    return "--multiprocessing-fork" in command and "resource_tracker" not in command


def rss_mib(pid: int) -> float | None:
    """Resident set size of a process in MiB (VmRSS), None when it is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return None
