"""The two sides of the comparison: how to prepare, configure and start each server.

Storefront runs as production would run it: `storefront serve --workers 2`, JSON logs,
bcrypt cost 12, metrics on, hosts and CORS origins listed, a database pool sized for the
load (16 per worker, as the baseline's); only the rate limits are raised out of the way (they
are still checked on every request). The baseline is
`../shared/bench/baseline_app.py` in a virtualenv of its own, with the uvicorn flags its
README gives.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

from sqlalchemy.engine import make_url

from benchkit.seed import SeedSizes
from benchkit.servers import Server, start_server

WORKERS = 2
STOREFRONT_SECRET = "storefront-bench-signing-key-0123456789-abcdefgh"  # 48 characters
BASELINE_SECRET = "baseline-bench-signing-key-0123456789-abcdefghij"  # 48 characters
RAISED_LIMIT = "1000000/minute"
POOL_PER_WORKER = 16  # the baseline's BASELINE_POOL_MAX default
BASELINE_MODULES = "asyncpg, bcrypt, jwt, starlette, uvicorn, uvloop, httptools"


class CommandFailed(Exception):
    """A preparation step (migrations, pip, the baseline's setup) exited non-zero."""


def run_logged(
    what: str, argv: Sequence[str], *, log_path: Path, cwd: Path, env: Mapping[str, str]
) -> None:
    """Run a preparation command with its output appended to `log_path`."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        log.write(f"\n$ {' '.join(argv)}\n".encode())
        log.flush()
        done = subprocess.run(  # noqa: S603 - our own argv, no shell
            list(argv), cwd=cwd, env=dict(env), stdout=log, stderr=subprocess.STDOUT, check=False
        )
    if done.returncode != 0:
        tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-15:])
        raise CommandFailed(f"{what} failed (exit {done.returncode}); see {log_path}:\n{tail}")


# --------------------------------------------------------------------------- Storefront


def hashing_lock_dir(database_url: str) -> Path:
    """The password-hashing slots of this run's server alone: the default directory is shared
    by every Storefront on the machine (other test runs included), whose hashes would queue
    with ours."""
    name = make_url(database_url).database or "storefront"
    return Path(tempfile.gettempdir()) / f"storefront-bench-hashing-{name}"


def storefront_env(database_url: str) -> dict[str, str]:
    """The process environment of Storefront: production, with limits raised out of the way."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("STOREFRONT_")}
    env.update(
        {
            "STOREFRONT_ENVIRONMENT": "production",
            "STOREFRONT_DATABASE_URL": database_url,
            "STOREFRONT_SECRET_KEY": STOREFRONT_SECRET,
            "STOREFRONT_ALLOWED_HOSTS": "127.0.0.1,localhost",
            "STOREFRONT_CORS_ORIGINS": "https://shop.bench.example.com",
            "STOREFRONT_BCRYPT_ROUNDS": "12",
            "STOREFRONT_LOG_FORMAT": "json",
            "STOREFRONT_METRICS_ENABLED": "true",
            "STOREFRONT_RATE_LIMIT_DEFAULT": RAISED_LIMIT,
            "STOREFRONT_RATE_LIMIT_LOGIN": RAISED_LIMIT,
            "STOREFRONT_RATE_LIMIT_REGISTER": RAISED_LIMIT,
            "STOREFRONT_RATE_LIMIT_REFRESH": RAISED_LIMIT,
            "STOREFRONT_RATE_LIMIT_PASSWORD_FORGOT": RAISED_LIMIT,
            "STOREFRONT_RATE_LIMIT_ACCOUNT_MAIL": RAISED_LIMIT,
            "STOREFRONT_PASSWORD_HASHING_LOCK_DIR": str(hashing_lock_dir(database_url)),
            # Sized like the baseline's pool (up to 16 per worker, kept open): SQLAlchemy
            # closes an overflow connection when it is returned, so at the benchmark's 16+
            # requests in flight per worker the default 10 + 10 opens and closes hundreds of
            # connections a second (see docs/performance.md, "Sizing the pool").
            "STOREFRONT_DB_POOL_SIZE": str(POOL_PER_WORKER),
            "STOREFRONT_DB_MAX_OVERFLOW": "0",
        }
    )
    return env


def _storefront_command(*args: str) -> list[str]:
    # `python -m storefront` is the `storefront` console script, run by this interpreter.
    return [sys.executable, "-m", "storefront", *args]


def migrate_storefront(database_url: str, repo: Path, log_path: Path) -> None:
    env = storefront_env(database_url)
    run_logged(
        "storefront migrate", _storefront_command("migrate"), log_path=log_path, cwd=repo, env=env
    )


def start_storefront(
    database_url: str,
    port: int,
    repo: Path,
    log_path: Path,
    overrides: Mapping[str, str] | None = None,
) -> Server:
    """Storefront in production configuration; `overrides` replace settings of its
    environment (an experiment, e.g. `--hashing-slots`)."""
    argv = _storefront_command(
        "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", str(WORKERS)
    )
    env = {**storefront_env(database_url), **(overrides or {})}
    return start_server("storefront", argv, port=port, env=env, cwd=repo, log_path=log_path)


# --------------------------------------------------------------------------- baseline


def baseline_env(dsn: str) -> dict[str, str]:
    return {**os.environ, "BASELINE_DSN": dsn, "BASELINE_SECRET": BASELINE_SECRET}


def ensure_baseline_venv(venv: Path, requirements: Path, log_path: Path) -> Path:
    """The baseline's interpreter: reuse the venv if its modules import, else (re)build it."""
    python = venv / "bin" / "python"
    if python.exists() and _imports(python, BASELINE_MODULES):
        return python
    env = dict(os.environ)
    venv.parent.mkdir(parents=True, exist_ok=True)
    create = [sys.executable, "-m", "venv", str(venv)]
    run_logged("python -m venv", create, log_path=log_path, cwd=venv.parent, env=env)
    pip = [str(python), "-m", "pip", "install", "--quiet", "-r", str(requirements)]
    run_logged("pip install (baseline)", pip, log_path=log_path, cwd=venv.parent, env=env)
    return python


def _imports(python: Path, modules: str) -> bool:
    probe = [str(python), "-c", f"import {modules}"]
    return subprocess.run(probe, capture_output=True, check=False).returncode == 0  # noqa: S603


def setup_baseline(
    python: Path, shared_dir: Path, dsn: str, sizes: SeedSizes, log_path: Path
) -> None:
    argv = [str(python), "baseline_app.py", "setup", f"--dsn={dsn}", *sizes.baseline_args()]
    run_logged(
        "baseline_app.py setup", argv, log_path=log_path, cwd=shared_dir, env=baseline_env(dsn)
    )


def start_baseline(python: Path, shared_dir: Path, dsn: str, port: int, log_path: Path) -> Server:
    argv = [
        str(python.parent / "uvicorn"),
        "baseline_app:app",
        f"--app-dir={shared_dir}",
        f"--workers={WORKERS}",
        "--loop=uvloop",
        "--http=httptools",
        "--no-access-log",
        "--host=127.0.0.1",
        f"--port={port}",
    ]
    env = baseline_env(dsn)
    return start_server("baseline", argv, port=port, env=env, cwd=shared_dir, log_path=log_path)
