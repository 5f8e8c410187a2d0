"""The `storefront` command line: serve, migrate, create-admin, seed-demo, purge, openapi."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import json
import os
import secrets
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from pydantic import SecretStr

from storefront.core.config import Settings, load_settings_or_exit
from storefront.core.logging import configure_logging


def _exit_cleanly(_signum: int, _frame: object) -> None:
    raise SystemExit(0)


def _serve(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    from storefront.core.migrations import upgrade_head

    if settings.is_sqlite and settings.is_development:
        upgrade_head(settings.database_url)  # the embedded database migrates itself
    _clear_metrics_directory()
    # uvicorn drains in-flight requests on SIGTERM, then re-raises the signal; this handler
    # turns that into exit status 0, so orchestrators see a clean stop, not a kill.
    signal.signal(signal.SIGTERM, _exit_cleanly)
    uvicorn.run(
        "storefront.main:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=None if args.reload else args.workers,
        reload=args.reload,
        proxy_headers=True,
        forwarded_allow_ips=",".join(settings.trusted_proxies),
        server_header=False,
        access_log=False,  # our middleware logs every request once
        log_config=None,  # logging is ours (structlog), configured in create_app
        timeout_graceful_shutdown=settings.graceful_shutdown_seconds,
    )
    return 0


def _clear_metrics_directory() -> None:
    """prometheus_client keeps each worker's counts in PROMETHEUS_MULTIPROC_DIR, in files that
    outlive the worker: left from an earlier run, they would be added into this run's /metrics.
    Only its own `*.db` files are removed, whatever else the directory holds."""
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not directory:
        return
    path = Path(directory)
    path.mkdir(parents=True, exist_ok=True)
    for stale in path.glob("*.db"):
        stale.unlink(missing_ok=True)


def _migrate(settings: Settings, _args: argparse.Namespace) -> int:
    from storefront.core.migrations import upgrade_head

    upgrade_head(settings.database_url)
    return 0


def _read_admin_password() -> str:
    password = os.environ.get("STOREFRONT_ADMIN_PASSWORD")
    if password:
        return password
    if not sys.stdin.isatty():
        print(
            "set STOREFRONT_ADMIN_PASSWORD or run in a terminal to be prompted",
            file=sys.stderr,
        )
        raise SystemExit(2)
    first = getpass.getpass("Password: ")
    if first != getpass.getpass("Repeat password: "):
        print("passwords do not match", file=sys.stderr)
        raise SystemExit(2)
    return first


def _create_admin(settings: Settings, args: argparse.Namespace) -> int:
    from storefront.users.commands import create_admin

    password = _read_admin_password()
    return asyncio.run(create_admin(settings, args.email, password, args.full_name))


def _seed_demo(settings: Settings, _args: argparse.Namespace) -> int:
    from storefront.products.commands import seed_demo

    return asyncio.run(seed_demo(settings))


def _purge(settings: Settings, args: argparse.Namespace) -> int:
    from storefront.housekeeping import purge

    report = asyncio.run(purge(settings, batch_size=args.batch_size))
    print(report.summary())
    return 0


MAX_BATCH_SIZE = 10_000


def _batch_size(value: str) -> int:
    # A batch's ids are bound parameters: PostgreSQL takes at most 32,767 in one statement.
    number = int(value) if value.isdigit() else 0
    if not 1 <= number <= MAX_BATCH_SIZE:
        raise argparse.ArgumentTypeError(f"must be between 1 and {MAX_BATCH_SIZE}, not {value}")
    return number


def openapi_json(settings: Settings) -> str:
    """The OpenAPI document as `storefront openapi` prints it (and `openapi.json` holds it).

    It describes the code, not a deployment: docs and metrics are switched on whatever the
    settings say. The app it is read from gets a throwaway signing key and an in-memory
    database that it never opens, so that a read-only command needs no key and writes nothing
    (no `var/secret_key`, no `var/` folder). Anything logged while the app is built goes to
    stderr: stdout carries the document alone."""
    from storefront.main import create_app

    document_settings = settings.model_copy(
        update={
            "docs_enabled": True,
            "metrics_enabled": True,
            "secret_key": SecretStr(secrets.token_urlsafe(48)),
            "database_url": "sqlite+aiosqlite://",
        }
    )
    with contextlib.redirect_stdout(sys.stderr):
        document = create_app(document_settings).openapi()
    return json.dumps(document, indent=2) + "\n"


def _openapi(settings: Settings, _args: argparse.Namespace) -> int:
    sys.stdout.write(openapi_json(settings))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="storefront", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the API with uvicorn")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1)
    serve.add_argument("--reload", action="store_true", help="development only")
    serve.set_defaults(handler=_serve)

    migrate = commands.add_parser("migrate", help="alembic upgrade head")
    migrate.set_defaults(handler=_migrate)

    admin = commands.add_parser(
        "create-admin",
        help="create or promote an admin (password from a prompt or STOREFRONT_ADMIN_PASSWORD)",
    )
    admin.add_argument("--email", required=True)
    admin.add_argument("--full-name", default=None)
    admin.set_defaults(handler=_create_admin)

    seed = commands.add_parser("seed-demo", help="fill an empty development database")
    seed.set_defaults(handler=_seed_demo)

    purge = commands.add_parser(
        "purge",
        help="delete dead sessions, spent one-time tokens and expired idempotency records "
        "(batched; safe on several replicas at once and beside traffic)",
    )
    purge.add_argument("--batch-size", type=_batch_size, default=500, help="rows per batch")
    purge.set_defaults(handler=_purge)

    openapi = commands.add_parser("openapi", help="print the OpenAPI document")
    openapi.set_defaults(handler=_openapi)
    return parser


# The commands that read and write the tables: on a database that is not migrated they say so
# in one line, instead of failing with a traceback on the first missing table.
_NEED_SCHEMA = frozenset({"create-admin", "seed-demo", "purge"})


async def schema_problem(settings: Settings) -> str | None:
    """Why the database cannot serve a command now, in a line; None when its schema is at the
    migrations head."""
    from storefront.core.database import create_database
    from storefront.core.migrations import database_revisions, head_revisions

    database = create_database(settings)
    try:
        async with database.engine.connect() as connection:
            current = await database_revisions(connection)
    except Exception as exc:  # unreachable, or never migrated: either way, one line
        return (
            f"cannot read the schema version ({type(exc).__name__}): is the database up, "
            "and migrated (`storefront migrate`)?"
        )
    finally:
        await database.dispose()
    if current != head_revisions():
        return "the database schema is not at the migrations head: run `storefront migrate` first"
    return None


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = load_settings_or_exit()
    if args.command != "openapi":
        configure_logging(settings)
    if args.command in _NEED_SCHEMA:
        problem = asyncio.run(schema_problem(settings))
        if problem is not None:
            print(problem, file=sys.stderr)
            return 2
    result: int = args.handler(settings, args)
    return result
