"""The `storefront` command line, run as ops would run it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi import FastAPI

from storefront.cli import main, openapi_json
from storefront.core.config import Settings, get_settings
from tests.support.servers import run_cli


def test_openapi_prints_the_document(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STOREFRONT_ENVIRONMENT", "test")
    monkeypatch.setenv("STOREFRONT_SECRET_KEY", "x" * 40)
    get_settings.cache_clear()
    try:
        assert main(["openapi"]) == 0
    finally:
        get_settings.cache_clear()
    document = json.loads(capsys.readouterr().out)
    assert document["info"]["title"] == "Storefront API"
    assert document["paths"]["/health/live"]["get"]["operationId"] == "health-live"


def test_openapi_on_an_empty_directory_prints_json_alone_and_writes_nothing(
    tmp_path: Path,
) -> None:
    """A fresh clone with no settings at all: `storefront openapi > openapi.json` must give a
    JSON file, and a read-only command needs no signing key and leaves no file behind."""
    result = run_cli("openapi", env={}, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["info"]["title"] == "Storefront API"
    assert "/api/v1/products" in document["paths"]
    assert list(tmp_path.iterdir()) == []


def test_openapi_sends_log_lines_to_stderr(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whatever logs while the app is built (structlog or the standard library) goes to
    stderr, never into the document."""
    import logging

    import storefront.main
    from storefront.core.logging import get_logger

    real_create_app = storefront.main.create_app

    def create_app_that_logs(settings: Settings) -> FastAPI:
        app = real_create_app(settings)
        get_logger("storefront.test").warning("structlog_line_while_building")
        logging.getLogger("storefront.test").warning("stdlib_line_while_building")
        return app

    monkeypatch.setattr(storefront.main, "create_app", create_app_that_logs)
    settings = Settings(_env_file=None, environment="test", secret_key=None)  # type: ignore[call-arg]

    printed = openapi_json(settings)

    captured = capsys.readouterr()
    assert captured.out == ""
    assert "structlog_line_while_building" in captured.err
    assert "stdlib_line_while_building" in captured.err
    assert json.loads(printed)["openapi"].startswith("3.")


def test_bad_setting_is_one_line_and_exit_2(tmp_path: Path) -> None:
    result = run_cli(
        "migrate",
        env={"STOREFRONT_ENVIRONMENT": "production", "STOREFRONT_SECRET_KEY": "short"},
        cwd=tmp_path,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "STOREFRONT_SECRET_KEY" in lines[0]
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("url", ["not a url", "mysql://root@localhost/shop"])
def test_alembic_with_a_bad_database_url_is_one_line(url: str) -> None:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("STOREFRONT_")}
    result = subprocess.run(
        [sys.executable, "-m", "alembic", "upgrade", "head"],
        env={**clean, "STOREFRONT_DATABASE_URL": url},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert result.returncode == 2
    assert result.stderr.startswith("invalid configuration: STOREFRONT_DATABASE_URL: ")
    assert result.stderr.count("\n") == 1


def test_migrate_brings_a_new_database_to_head(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}"
    result = run_cli("migrate", env={"STOREFRONT_DATABASE_URL": url}, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    import sqlite3

    with sqlite3.connect(tmp_path / "fresh.db") as connection:
        versions = connection.execute("SELECT version_num FROM alembic_version").fetchall()
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master")}
    from storefront.core.migrations import head_revisions

    assert {v[0] for v in versions} == set(head_revisions())
    assert "users" in tables


@pytest.mark.parametrize(
    "command", [["seed-demo"], ["purge"], ["create-admin", "--email", "a@b.co"]]
)
def test_a_command_on_a_database_never_migrated_says_so_in_one_line(
    tmp_path: Path, command: list[str]
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"
    env = {"STOREFRONT_DATABASE_URL": url, "STOREFRONT_ADMIN_PASSWORD": "a-long-password-1"}
    result = run_cli(*command, env=env, cwd=tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "storefront migrate" in result.stderr.strip().splitlines()[-1]


def test_a_command_on_a_database_behind_the_head_says_so_until_it_is_migrated(
    tmp_path: Path,
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'old.db'}"
    env = {"STOREFRONT_DATABASE_URL": url}
    assert run_cli("migrate", env=env, cwd=tmp_path).returncode == 0
    clean = {k: v for k, v in os.environ.items() if not k.startswith("STOREFRONT_")}
    downgrade = subprocess.run(
        [sys.executable, "-m", "alembic", "downgrade", "-1"],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert downgrade.returncode == 0, downgrade.stderr

    refused = run_cli("seed-demo", env=env, cwd=tmp_path)
    assert refused.returncode == 2
    assert refused.stderr.strip().splitlines()[-1] == (
        "the database schema is not at the migrations head: run `storefront migrate` first"
    )

    assert run_cli("migrate", env=env, cwd=tmp_path).returncode == 0
    seeded = run_cli("seed-demo", env=env, cwd=tmp_path)
    assert seeded.returncode == 0, seeded.stderr
    assert seeded.stdout.startswith("seeded ")
