"""Rate limits: one default budget per client IP across routes, 429 with Retry-After, Redis
with fallback."""

from __future__ import annotations

import asyncio
import uuid

import anyio
import pytest
from httpx import AsyncClient
from pydantic import ValidationError
from structlog.testing import capture_logs

from storefront.core import rate_limit
from storefront.core.config import describe_settings_error
from tests.support.clients import make_client
from tests.support.environment import make_settings
from tests.support.factories import AppFactory
from tests.support.tcp_proxy import TcpProxy

ITEM = "/api/v1/_probe/items/{}"


async def test_default_limit_is_one_budget_per_client_ip_across_routes(
    make_app_with: AppFactory,
) -> None:
    app = await make_app_with(rate_limit_default="3/minute")
    async with make_client(app) as http:
        statuses = [
            (await http.get(ITEM.format(uuid.uuid4()))).status_code,
            (await http.get("/api/v1/_probe/big")).status_code,
            (await http.get(ITEM.format(uuid.uuid4()))).status_code,
        ]
        limited = await http.get("/api/v1/_probe/big")
        health = await http.get("/health/live")
    assert statuses == [200, 200, 200]
    assert limited.status_code == 429
    assert limited.json()["error"]["code"] == "RATE_LIMITED"
    assert 1 <= int(limited.headers["retry-after"]) <= 60
    assert limited.headers["x-request-id"]
    assert health.status_code == 200  # probes are never limited


async def test_limits_are_per_client_ip(make_app_with: AppFactory) -> None:
    app = await make_app_with(rate_limit_default="2/minute")
    async with make_client(app, client_ip="198.51.100.1") as first:
        assert [(await first.get("/api/v1/_probe/big")).status_code for _ in range(3)] == [
            200,
            200,
            429,
        ]
    async with make_client(app, client_ip="198.51.100.2") as second:
        assert (await second.get("/api/v1/_probe/big")).status_code == 200


async def test_spoofed_forwarded_for_does_not_dodge_the_limit(make_app_with: AppFactory) -> None:
    app = await make_app_with(rate_limit_default="2/minute")
    async with make_client(app, client_ip="198.51.100.3") as http:
        statuses = [
            (
                await http.get("/api/v1/_probe/big", headers={"X-Forwarded-For": f"10.0.0.{n}"})
            ).status_code
            for n in range(3)
        ]
    assert statuses == [200, 200, 429]


async def test_disabled_rate_limits(make_app_with: AppFactory) -> None:
    app = await make_app_with(rate_limit_default="1/minute", rate_limit_enabled=False)
    async with make_client(app) as http:
        statuses = {(await http.get("/api/v1/_probe/big")).status_code for _ in range(3)}
    assert statuses == {200}


async def test_redis_storage_is_shared_between_processes(make_app_with: AppFactory) -> None:
    # Two apps stand for two worker processes: one Redis, one budget.
    uri = "redis://127.0.0.1:6379/15"
    worker_a = await make_app_with(rate_limit_default="3/minute", rate_limit_storage_uri=uri)
    worker_b = await make_app_with(rate_limit_default="3/minute", rate_limit_storage_uri=uri)
    ip = f"198.18.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}"
    statuses = []
    for app in (worker_a, worker_b, worker_a, worker_b):
        async with make_client(app, client_ip=ip) as http:
            statuses.append((await http.get("/api/v1/_probe/big")).status_code)
    assert statuses == [200, 200, 200, 429]


async def test_redis_down_falls_back_to_memory_and_logs(make_app_with: AppFactory) -> None:
    app = await make_app_with(
        rate_limit_default="2/minute", rate_limit_storage_uri="redis://127.0.0.1:1/0"
    )
    with capture_logs() as logs:
        async with make_client(app) as http:
            statuses = [(await http.get("/api/v1/_probe/big")).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]  # still limited, per process, never a 500
    warnings = [e for e in logs if e["event"] == "rate_limit_storage_unavailable"]
    assert len(warnings) == 1
    assert warnings[0]["log_level"] == "warning"


class FakeClock:
    """The rate limiter's monotonic clock, moved by the test instead of by sleeping."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(rate_limit, "monotonic", fake)
    return fake


async def test_a_window_starts_at_its_first_hit_and_lasts_its_period(
    make_app_with: AppFactory, clock: FakeClock
) -> None:
    app = await make_app_with(rate_limit_default="2/minute")
    async with make_client(app) as http:
        allowed = [(await http.get("/api/v1/_probe/big")).status_code for _ in range(2)]
        at_start = await http.get("/api/v1/_probe/big")
        clock.now += 45
        later = await http.get("/api/v1/_probe/big")
        clock.now += 15  # the minute since the first hit is over: a new window
        next_window = [(await http.get("/api/v1/_probe/big")).status_code for _ in range(3)]
    assert allowed == [200, 200]
    assert (at_start.status_code, at_start.headers["retry-after"]) == (429, "60")
    assert (later.status_code, later.headers["retry-after"]) == (429, "15")
    assert next_window == [200, 200, 429]


async def test_redis_limit_answers_retry_after_from_its_window(
    make_app_with: AppFactory,
) -> None:
    app = await make_app_with(
        rate_limit_default="1/minute", rate_limit_storage_uri="redis://127.0.0.1:6379/15"
    )
    ip = f"198.18.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}"
    async with make_client(app, client_ip=ip) as http:
        first = await http.get("/api/v1/_probe/big")
        limited = await http.get("/api/v1/_probe/big")
    assert first.status_code == 200
    assert limited.status_code == 429
    assert limited.json()["error"]["code"] == "RATE_LIMITED"
    assert 1 <= int(limited.headers["retry-after"]) <= 60


async def test_redis_outage_counts_in_memory_then_redis_again_after_a_probe(
    make_app_with: AppFactory, clock: FakeClock
) -> None:
    proxy = TcpProxy("127.0.0.1", 6379)
    await proxy.start()
    app = await make_app_with(
        rate_limit_default="2/minute", rate_limit_storage_uri=f"redis://127.0.0.1:{proxy.port}/15"
    )
    ip = f"198.18.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}"

    async def status(http: AsyncClient) -> int:
        return (await http.get("/api/v1/_probe/big")).status_code

    try:
        with capture_logs() as logs:
            async with make_client(app, client_ip=ip) as http:
                before = await status(http)  # Redis counts 1
                await proxy.cut()
                during = [await status(http) for _ in range(3)]  # memory counts 1, 2, 3
                await proxy.restore()
                not_yet = await status(http)  # Redis is tried again only after a few seconds
                clock.now += 5
                probe = await status(http)  # Redis counts 2: this minute's count is back
                after = await status(http)  # Redis counts 3
    finally:
        await proxy.cut()
    events = [(e["event"], e["log_level"]) for e in logs if e["event"].startswith("rate_limit")]
    assert before == 200
    assert during == [200, 200, 429]
    assert not_yet == 429
    assert (probe, after) == (200, 429)
    assert events == [
        ("rate_limit_storage_unavailable", "warning"),
        ("rate_limit_storage_recovered", "info"),
    ]


async def test_redis_that_never_answers_times_out_to_memory(make_app_with: AppFactory) -> None:
    async def accept_and_stay_silent(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        await reader.read()  # until the client gives up and closes
        writer.close()

    silent = await asyncio.start_server(accept_and_stay_silent, "127.0.0.1", 0)
    port = silent.sockets[0].getsockname()[1]
    app = await make_app_with(
        rate_limit_default="1/minute", rate_limit_storage_uri=f"redis://127.0.0.1:{port}/0"
    )
    try:
        with capture_logs() as logs, anyio.fail_after(10):  # a bound, not a measurement
            async with make_client(app) as http:
                statuses = [(await http.get("/api/v1/_probe/big")).status_code for _ in range(2)]
    finally:
        silent.close()
    warnings = [e for e in logs if e["event"] == "rate_limit_storage_unavailable"]
    assert statuses == [200, 429]
    assert [w["error_type"] for w in warnings] == ["TimeoutError"]


def test_an_unsupported_storage_is_refused_at_start_without_echoing_its_uri(
    database_url: str,
) -> None:
    with pytest.raises(ValidationError) as refused:
        make_settings(
            database_url, rate_limit_storage_uri="memcached://user:hunter2-secret@cache:11211"
        )
    line = describe_settings_error(refused.value)  # what the process prints, then exits 2
    assert line.startswith("invalid configuration: STOREFRONT_RATE_LIMIT_STORAGE_URI: use ")
    assert "hunter2" not in line
