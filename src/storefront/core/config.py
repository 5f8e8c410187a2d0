"""Settings: every knob of the service, read once from the environment (or `.env`).

`get_settings()` is the only place that reads the environment; everything else receives a
`Settings` instance (from `create_app(settings)` or a FastAPI dependency).
"""

from __future__ import annotations

import json
import secrets
import sys
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal, Self

import structlog
from pydantic import (
    AfterValidator,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEV_SECRET_KEY_FILE = Path("var/secret_key")
MIN_SECRET_KEY_LENGTH = 32


class Environment(StrEnum):
    DEVELOPMENT = "development"
    TEST = "test"
    PRODUCTION = "production"


def _split_list(value: Any) -> Any:
    """Accept a JSON list or a comma-separated string for list settings."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            return json.loads(text)
        return [item.strip() for item in text.split(",") if item.strip()]
    return value


StrList = Annotated[list[str], NoDecode]


_SETTINGS_SOURCES = SettingsConfigDict(
    env_prefix="STOREFRONT_",
    env_file=".env",
    env_file_encoding="utf-8",
    extra="ignore",
    frozen=True,
)
DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./var/storefront.db"
SUPPORTED_DATABASE_DRIVERS = ("sqlite+aiosqlite", "postgresql+asyncpg")


def _check_database_url(value: str) -> str:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        driver = make_url(value).drivername
    except ArgumentError:
        raise ValueError("not a database URL") from None
    if driver not in SUPPORTED_DATABASE_DRIVERS:
        raise ValueError(f"use one of {', '.join(SUPPORTED_DATABASE_DRIVERS)}, not {driver}")
    return value


DatabaseUrl = Annotated[str, AfterValidator(_check_database_url)]


class DatabaseSettings(BaseSettings):
    """Only what a migration run needs. An init container that runs `alembic upgrade head`
    gets the database URL and nothing else: the JWT key is none of its business."""

    model_config = _SETTINGS_SOURCES

    database_url: DatabaseUrl = DEFAULT_DATABASE_URL
    db_transaction_pooler: bool = False


class Settings(BaseSettings):
    model_config = _SETTINGS_SOURCES

    environment: Environment = Environment.DEVELOPMENT

    # Database
    database_url: DatabaseUrl = DEFAULT_DATABASE_URL
    db_pool_size: int = Field(default=10, ge=1, le=200)
    db_max_overflow: int = Field(default=10, ge=0, le=200)
    db_pool_timeout: float = Field(default=5.0, gt=0, le=120)
    db_pool_recycle: int = Field(default=1800, ge=-1)
    db_connect_timeout: float = Field(default=3.0, gt=0, le=60)
    db_echo: bool = False
    # The URL names a pooler in transaction mode (PgBouncer `pool_mode = transaction`):
    # consecutive transactions may run on different server connections.
    db_transaction_pooler: bool = False

    # Tokens and passwords
    secret_key: SecretStr | None = None
    jwt_algorithm: Literal["HS256", "HS384", "HS512"] = "HS256"
    jwt_issuer: str = "storefront"
    jwt_audience: str = "storefront-api"
    access_token_ttl_seconds: int = Field(default=900, ge=30, le=86_400)
    refresh_token_ttl_seconds: int = Field(default=2_592_000, ge=300, le=31_536_000)
    bcrypt_rounds: int = Field(default=12, ge=4, le=16)
    # A login lives at most this long from the moment the password was typed, however often
    # its refresh token is rotated.
    login_max_age_seconds: int = Field(default=2_592_000, ge=300, le=31_536_000)
    # Password hashing: at most this many hashes run at once on the whole machine (every
    # worker process of every server sharing `password_hashing_lock_dir`) [the CPUs the
    # process may use, a container's CPU limit included]; beyond `password_hashing_queue`
    # waiting checks per process, a check is refused at once with 503 [4 per concurrent hash].
    password_hashing_concurrency: int | None = Field(default=None, ge=1, le=256)
    password_hashing_queue: int | None = Field(default=None, ge=0, le=10_000)
    password_hashing_lock_dir: Path | None = None

    # HTTP
    cors_origins: StrList = ["http://localhost:5173"]
    allowed_hosts: StrList = []
    trusted_proxies: StrList = ["127.0.0.1"]
    max_body_bytes: int = Field(default=1_048_576, ge=1_024)
    body_timeout_seconds: float = Field(default=30.0, gt=0, le=600)
    docs_enabled: bool | None = None
    metrics_enabled: bool = True
    graceful_shutdown_seconds: int = Field(default=20, ge=1, le=600)

    # HTTP caching of the public catalogue (`GET /products`, `GET /products/{id}`)
    catalogue_max_age_seconds: int = Field(default=30, ge=0, le=86_400)
    catalogue_stale_while_revalidate_seconds: int = Field(default=30, ge=0, le=86_400)

    # Rate limits (`limits` syntax)
    rate_limit_enabled: bool = True
    rate_limit_storage_uri: str = "memory://"
    rate_limit_default: str = "600/minute"
    rate_limit_login: str = "10/minute"
    rate_limit_register: str = "5/minute"
    rate_limit_refresh: str = "30/minute"
    rate_limit_password_forgot: str = "5/minute"  # noqa: S105 - a limit
    # Verification and reset mails per account, on top of the per-IP limits.
    rate_limit_account_mail: str = "3/hour"

    # Traces (OpenTelemetry); the exporter reads the standard OTEL_* variables itself.
    otel_enabled: bool = False

    # Logging
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    log_format: Literal["console", "json"] | None = None

    # E-mail
    email_backend: Literal["console", "smtp", "memory"] = "console"
    email_from: str = "Storefront <no-reply@storefront.local>"
    smtp_host: str = "localhost"
    smtp_port: int = Field(default=587, ge=1, le=65_535)
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = True
    smtp_timeout_seconds: float = Field(default=10.0, gt=0)
    frontend_url: str = "http://localhost:5173"

    @field_validator("cors_origins", "allowed_hosts", "trusted_proxies", mode="before")
    @classmethod
    def _parse_list(cls, value: Any) -> Any:
        return _split_list(value)

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_log_level(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @field_validator(
        "rate_limit_default",
        "rate_limit_login",
        "rate_limit_register",
        "rate_limit_refresh",
        "rate_limit_password_forgot",
        "rate_limit_account_mail",
    )
    @classmethod
    def _valid_limit(cls, value: str) -> str:
        from limits import parse_many

        try:
            parse_many(value)
        except ValueError as exc:
            raise ValueError(f"not a rate limit in `limits` syntax: {value!r}") from exc
        return value

    @field_validator("rate_limit_storage_uri")
    @classmethod
    def _known_storage(cls, value: str) -> str:
        # The scheme only in the message: the rest of the URI may hold a password.
        if value.partition("://")[0] not in ("memory", "redis", "rediss"):
            raise ValueError("use memory://, redis://host:6379/0 or rediss://")
        return value

    @field_validator("frontend_url")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @model_validator(mode="after")
    def _production_rules(self) -> Self:
        if self.environment is not Environment.PRODUCTION:
            return self
        key = self.secret_key.get_secret_value() if self.secret_key else ""
        if len(key) < MIN_SECRET_KEY_LENGTH:
            raise ValueError(
                "STOREFRONT_SECRET_KEY must be set to at least 32 characters in production"
            )
        if self.is_sqlite:
            raise ValueError(
                "STOREFRONT_DATABASE_URL must point to PostgreSQL in production, not SQLite"
            )
        if "*" in self.cors_origins:
            raise ValueError("STOREFRONT_CORS_ORIGINS must not contain '*' in production")
        if not self.allowed_hosts or "*" in self.allowed_hosts:
            raise ValueError(
                "STOREFRONT_ALLOWED_HOSTS must list the served host names in production"
            )
        return self

    # Derived values -------------------------------------------------------

    @property
    def is_production(self) -> bool:
        return self.environment is Environment.PRODUCTION

    @property
    def is_development(self) -> bool:
        """The one place that decides it: a developer's machine (console logs, mail bodies in
        the log, the embedded database migrating itself, a generated key)."""
        return self.environment is Environment.DEVELOPMENT

    @property
    def is_test(self) -> bool:
        return self.environment is Environment.TEST

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def effective_docs_enabled(self) -> bool:
        return self.docs_enabled if self.docs_enabled is not None else not self.is_production

    @property
    def effective_log_format(self) -> Literal["console", "json"]:
        if self.log_format is not None:
            return self.log_format
        return "console" if self.is_development else "json"

    @property
    def effective_allowed_hosts(self) -> list[str]:
        return self.allowed_hosts or ["*"]

    @property
    def signing_key(self) -> str:
        """The JWT key. Outside production a missing key is generated once into ./var/."""
        if self.secret_key is not None:
            return self.secret_key.get_secret_value()
        return _development_secret_key()


@lru_cache(maxsize=1)
def _development_secret_key() -> str:
    path = DEV_SECRET_KEY_FILE
    if path.exists():
        return path.read_text(encoding="utf-8").strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    path.write_text(key, encoding="utf-8")
    path.chmod(0o600)
    structlog.get_logger(logger_name="storefront.config").warning(
        "secret_key_generated",
        detail="STOREFRONT_SECRET_KEY is not set; a development key was written to "
        f"{path} (never do this in production)",
    )
    return key


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()


def describe_settings_error(exc: ValidationError) -> str:
    """One line naming each bad setting, for a clean exit at start-up."""
    problems = []
    for error in exc.errors():
        loc = [str(part) for part in error.get("loc", ()) if part != "__root__"]
        message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
        if loc:
            problems.append(f"STOREFRONT_{loc[0].upper()}: {message}")
        else:
            problems.append(message)
    return "invalid configuration: " + "; ".join(problems)


def load_settings_or_exit() -> Settings:
    """`get_settings()` for entry points: a bad setting is one line on stderr and exit 2."""
    try:
        return get_settings()
    except ValidationError as exc:
        print(describe_settings_error(exc), file=sys.stderr)  # noqa: T201
        raise SystemExit(2) from None


def load_database_settings_or_exit() -> DatabaseSettings:
    """The settings of a migration run; a bad setting exits 2 in one line."""
    try:
        return DatabaseSettings()
    except ValidationError as exc:
        print(describe_settings_error(exc), file=sys.stderr)  # noqa: T201
        raise SystemExit(2) from None
