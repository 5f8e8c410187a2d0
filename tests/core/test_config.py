"""Settings: parsing, development defaults and the production refusals."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from storefront.core import config
from storefront.core.config import Settings, describe_settings_error

GOOD_KEY = "k" * 40
PG = "postgresql+asyncpg://u:p@db:5432/storefront"


def production(**overrides: object) -> Settings:
    values: dict[str, object] = {
        "environment": "production",
        "secret_key": GOOD_KEY,
        "database_url": PG,
        "allowed_hosts": ["api.example.com"],
        "cors_origins": ["https://shop.example.com"],
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[arg-type]


def test_zero_configuration_development_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(__import__("os").environ):
        if name.startswith("STOREFRONT_"):
            monkeypatch.delenv(name)
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.environment == "development"
    assert settings.database_url == "sqlite+aiosqlite:///./var/storefront.db"
    assert settings.effective_docs_enabled is True
    assert settings.effective_log_format == "console"
    assert settings.effective_allowed_hosts == ["*"]
    assert settings.rate_limit_login == "10/minute"


def test_production_accepts_complete_settings() -> None:
    settings = production()
    assert settings.effective_docs_enabled is False
    assert settings.effective_log_format == "json"


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"secret_key": None}, "STOREFRONT_SECRET_KEY"),
        ({"secret_key": "short"}, "STOREFRONT_SECRET_KEY"),
        ({"database_url": "sqlite+aiosqlite:///./var/x.db"}, "STOREFRONT_DATABASE_URL"),
        ({"cors_origins": ["*"]}, "STOREFRONT_CORS_ORIGINS"),
        ({"allowed_hosts": []}, "STOREFRONT_ALLOWED_HOSTS"),
    ],
)
def test_production_refuses_unsafe_settings(overrides: dict[str, object], named: str) -> None:
    with pytest.raises(ValidationError) as caught:
        production(**overrides)
    line = describe_settings_error(caught.value)
    assert named in line
    assert "\n" not in line
    assert GOOD_KEY not in line


def test_lists_accept_commas_or_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STOREFRONT_CORS_ORIGINS", "https://a.example, https://b.example")
    monkeypatch.setenv("STOREFRONT_TRUSTED_PROXIES", '["10.0.0.0/8", "127.0.0.1"]')
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.cors_origins == ["https://a.example", "https://b.example"]
    assert settings.trusted_proxies == ["10.0.0.0/8", "127.0.0.1"]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("STOREFRONT_DB_POOL_SIZE", "0"),
        ("STOREFRONT_RATE_LIMIT_LOGIN", "ten per minute"),
        ("STOREFRONT_ENVIRONMENT", "staging"),
        ("STOREFRONT_BCRYPT_ROUNDS", "3"),
    ],
)
def test_bad_values_name_the_setting(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError) as caught:
        Settings(_env_file=None)  # type: ignore[call-arg]
    assert name in describe_settings_error(caught.value)


def test_development_secret_key_is_generated_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    config._development_secret_key.cache_clear()
    try:
        first = Settings(_env_file=None, secret_key=None).signing_key  # type: ignore[call-arg]
        config._development_secret_key.cache_clear()
        second = Settings(_env_file=None, secret_key=None).signing_key  # type: ignore[call-arg]
    finally:
        config._development_secret_key.cache_clear()
    key_file = tmp_path / "var" / "secret_key"
    assert first == second == key_file.read_text()
    assert len(first) >= 32
    assert key_file.stat().st_mode & 0o777 == 0o600
