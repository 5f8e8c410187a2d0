"""`storefront serve` as a developer runs it: a real uvicorn process on a free port."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.support.servers import free_port


def wait_until_ready(
    url: str, process: subprocess.Popen[str], seconds: float = 30
) -> httpx.Response:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"server exited early: {process.communicate()[0]}")
        try:
            return httpx.get(url, timeout=1)
        except httpx.TransportError:
            time.sleep(0.2)
    raise AssertionError("server did not start in time")


def test_serve_migrates_sqlite_and_answers_ready(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("STOREFRONT_")}
    # Zero configuration: the embedded database under ./var/ of the working directory.
    process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "storefront", "serve", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        ready = wait_until_ready(f"http://127.0.0.1:{port}/health/ready", process)
        docs = httpx.get(f"http://127.0.0.1:{port}/docs", timeout=5)
    finally:
        process.send_signal(signal.SIGINT if os.name == "nt" else signal.SIGTERM)
        output = process.communicate(timeout=30)[0]
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"] == {"database": "ok", "migrations": "ok"}
    assert "server" not in ready.headers
    assert ready.headers["x-request-id"]
    assert docs.status_code == 200
    assert process.returncode == 0, output
    assert (tmp_path / "var" / "storefront.db").is_file()
    assert (tmp_path / "var" / "secret_key").is_file()
    assert "secret_key_generated" in output
