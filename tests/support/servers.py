"""Run `storefront serve` as a real process for tests that need uvicorn, signals or workers."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.support.environment import TEST_SECRET_KEY, subprocess_environment


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class ServerProcess:
    process: subprocess.Popen[bytes]
    port: int
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def terminate(self, timeout: float = 30) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=timeout)


def wait_until_answering(server: ServerProcess, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise AssertionError(f"server exited early:\n{server.output()}")
        try:
            if httpx.get(f"{server.url}/health/live", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"server did not start in time:\n{server.output()}")


@contextmanager
def running_server(
    tmp_path: Path,
    *,
    database_url: str,
    workers: int = 1,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> Iterator[ServerProcess]:
    port = free_port()
    clean = subprocess_environment()
    full_env = {
        **clean,
        "STOREFRONT_ENVIRONMENT": "test",
        "STOREFRONT_DATABASE_URL": database_url,
        "STOREFRONT_SECRET_KEY": TEST_SECRET_KEY,
        "STOREFRONT_BCRYPT_ROUNDS": "4",
        "STOREFRONT_EMAIL_BACKEND": "memory",
        "STOREFRONT_LOG_FORMAT": "json",
        # Hashing slots of this server's own: not shared with other servers on the machine.
        "STOREFRONT_PASSWORD_HASHING_LOCK_DIR": str(tmp_path / "hashing-slots"),
        **(env or {}),
    }
    log_path = tmp_path / f"server-{port}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [
                sys.executable,
                "-m",
                "storefront",
                "serve",
                "--port",
                str(port),
                "--workers",
                str(workers),
            ],
            cwd=cwd or tmp_path,
            env=full_env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    server = ServerProcess(process=process, port=port, log_path=log_path)
    try:
        wait_until_answering(server)
        yield server
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def run_cli(
    *args: str, env: dict[str, str], cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "storefront", *args],
        env={**subprocess_environment(), **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
