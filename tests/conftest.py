"""Test harness: a real database (SQLite by default, PostgreSQL when
STOREFRONT_TEST_DATABASE_URL is set), migrated once per run with Alembic; a fresh app per test
over httpx's ASGI transport; every table emptied after each test.

Tests marked `postgres` run only on PostgreSQL (they are deselected, not skipped, on SQLite).
"""

from __future__ import annotations

import inspect
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from httpx import AsyncClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

import storefront.auth.models
import storefront.orders.models
import storefront.products.models
import storefront.users.models  # noqa: F401 - every table on Base.metadata
from storefront.core.config import Settings
from storefront.core.database import Base, utcnow
from storefront.core.migrations import upgrade_head
from storefront.main import create_app
from storefront.products.models import Product
from storefront.users.models import User
from tests.support.clients import make_client
from tests.support.environment import (
    DEFAULT_PASSWORD,
    PG_URL,
    create_test_database,
    drop_test_database,
    make_settings,
)
from tests.support.factories import AppFactory, TestUser, UserFactory, insert_product


def pytest_configure(config: pytest.Config) -> None:
    backend = "postgresql" if PG_URL else "sqlite"
    config.stash[_BACKEND_KEY] = backend


_BACKEND_KEY = pytest.StashKey[str]()


def pytest_report_header(config: pytest.Config) -> str:
    return f"storefront test database: {config.stash[_BACKEND_KEY]}"


@pytest.hookimpl(tryfirst=True)
def pytest_pycollect_makeitem(collector: pytest.Collector, name: str, obj: object) -> None:
    """Async tests run on AnyIO without a marker of their own (marked before the AnyIO
    plugin looks, so that parametrised tests work too)."""
    if inspect.iscoroutinefunction(obj) and name.startswith("test"):
        pytest.mark.anyio(obj)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    kept, deselected = [], []
    for item in items:
        if item.get_closest_marker("postgres") and not PG_URL:
            deselected.append(item)
        else:
            kept.append(item)
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = kept


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def is_postgres() -> bool:
    return PG_URL is not None


# --------------------------------------------------------------------------- database


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if PG_URL:
        url = create_test_database(PG_URL)
        try:
            upgrade_head(url)
            yield url
        finally:
            drop_test_database(url)
    else:
        path = Path(tmp_path_factory.mktemp("db")) / "storefront.db"
        url = f"sqlite+aiosqlite:///{path}"
        upgrade_head(url)
        yield url


@pytest.fixture
def fresh_database_url(tmp_path: Path) -> Iterator[str]:
    """A database of the test's own, migrated to head, for tests that run the service as a
    separate process (the per-test table cleanup cannot reach those)."""
    if PG_URL:
        url = create_test_database(PG_URL)
        try:
            upgrade_head(url)
            yield url
        finally:
            drop_test_database(url)
    else:
        url = f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}"
        upgrade_head(url)
        yield url


@pytest.fixture
def settings(database_url: str) -> Settings:
    return make_settings(database_url)


async def _empty_all_tables(app: FastAPI) -> None:
    tables = list(reversed(Base.metadata.sorted_tables))
    async with app.state.database.engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            names = ", ".join(f'"{t.name}"' for t in tables)
            await connection.execute(text(f"TRUNCATE {names} CASCADE"))
        else:
            for table in tables:
                await connection.execute(table.delete())


@pytest.fixture
def build_app() -> Callable[[Settings], FastAPI]:
    """How `app` is built; a test package may override it (tests/core adds probe routes)."""
    return create_app


@pytest.fixture
async def app(
    settings: Settings, build_app: Callable[[Settings], FastAPI]
) -> AsyncIterator[FastAPI]:
    application = build_app(settings)
    async with application.router.lifespan_context(application):
        try:
            yield application
        finally:
            await _empty_all_tables(application)


@pytest.fixture
async def make_app_with(
    database_url: str, build_app: Callable[[Settings], FastAPI]
) -> AsyncIterator[AppFactory]:
    """Build (and start) an app with settings overridden, e.g. a database that is down, or
    small rate limits. Every table is emptied afterwards, as for `app`."""
    started: list[tuple[FastAPI, AsyncExitStack]] = []

    async def factory(**overrides: object) -> FastAPI:
        url = str(overrides.pop("database_url", database_url))
        application = build_app(make_settings(url, **overrides))
        stack = AsyncExitStack()
        await stack.enter_async_context(application.router.lifespan_context(application))
        started.append((application, stack))
        return application

    yield factory
    for application, stack in reversed(started):
        if application.state.settings.database_url == database_url:
            await _empty_all_tables(application)
        await stack.aclose()


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[AsyncClient]:
    async with make_client(app) as http:
        yield http


@pytest.fixture
async def db(app: FastAPI) -> AsyncIterator[AsyncSession]:
    """A session of its own, to set up and inspect the database state a client leaves."""
    async with app.state.database.sessionmaker() as session:
        yield session


# --------------------------------------------------------------------------- statements


# --------------------------------------------------------------------------- users


@pytest.fixture
def make_user(app: FastAPI) -> UserFactory:
    """Insert a user directly and mint an access token for it (no HTTP round trip)."""

    async def factory(
        email: str | None = None,
        *,
        password: str = DEFAULT_PASSWORD,
        role: str = "customer",
        is_active: bool = True,
        is_verified: bool = True,
        full_name: str = "Test User",
    ) -> TestUser:
        email = email or f"user-{uuid.uuid4().hex[:10]}@example.com"
        password_hash = await app.state.password_hasher.hash(password)
        async with app.state.database.sessionmaker() as session:
            user = User(
                email=email.lower(),
                full_name=full_name,
                password_hash=password_hash,
                role=role,
                is_active=is_active,
                is_verified=is_verified,
            )
            session.add(user)
            await session.commit()
        # The claims of a real login's token, `sid` (the login's id) included.
        token = app.state.access_tokens.issue(user.id, utcnow(), login_id=uuid.uuid4())
        return TestUser(user=user, password=password, headers={"Authorization": f"Bearer {token}"})

    return factory


@pytest.fixture
def make_product(app: FastAPI) -> Callable[..., Awaitable[Product]]:
    """Insert a product directly (defaults: active, 10 in stock, 10.00 EUR)."""

    async def factory(**overrides: Any) -> Product:
        return await insert_product(app, **overrides)

    return factory


@pytest.fixture
async def customer(make_user: UserFactory) -> TestUser:
    return await make_user("customer@example.com", full_name="Casey Customer")


@pytest.fixture
async def admin(make_user: UserFactory) -> TestUser:
    return await make_user("admin@example.com", role="admin", full_name="Ada Admin")
