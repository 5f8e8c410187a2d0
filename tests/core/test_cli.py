"""The `storefront` command line, run as ops would run it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from storefront.cli import main
from storefront.core.config import get_settings


def run_cli(
    *args: str, env: dict[str, str], cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("STOREFRONT_")}
    return subprocess.run(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "storefront", *args],
        env={**clean, **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


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
