"""A database that disappears and comes back, through a proxy of the test's own."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest
from sqlalchemy.engine import make_url

from tests.conftest import make_client
from tests.core.conftest import AppFactory
from tests.tcp_proxy import TcpProxy


@pytest.fixture
async def database_proxy(database_url: str) -> AsyncIterator[tuple[TcpProxy, str]]:
    url = make_url(database_url)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    await proxy.start()
    proxied = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    yield proxy, proxied
    await proxy.cut()


@pytest.mark.postgres
async def test_outage_is_503_fast_and_recovers_without_restart(
    make_app_with: AppFactory, database_proxy: tuple[TcpProxy, str]
) -> None:
    proxy, proxied_url = database_proxy
    app = await make_app_with(database_url=proxied_url, db_pool_timeout=1.0, db_connect_timeout=1.0)
    async with make_client(app) as http:
        assert (await http.get("/api/v1/_probe/db")).status_code == 200

        await proxy.cut()
        started = time.monotonic()
        during = [await http.get("/api/v1/_probe/db") for _ in range(3)]
        elapsed = time.monotonic() - started
        ready = await http.get("/health/ready")
        live = await http.get("/health/live")

        await proxy.restore()
        after = await http.get("/api/v1/_probe/db")

    assert [r.status_code for r in during] == [503, 503, 503]
    assert {r.json()["error"]["code"] for r in during} == {"SERVICE_UNAVAILABLE"}
    assert elapsed < 3 * 2.5  # each within about the pool/connect timeout, never a hang
    assert ready.status_code == 503
    assert ready.json()["checks"]["database"] == "unavailable"
    assert live.status_code == 200
    assert after.status_code == 200
    assert after.json() == {"value": 1}
