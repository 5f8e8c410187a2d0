"""Rate limits: one default budget per client IP across routes, 429 with Retry-After, Redis
with fallback."""

from __future__ import annotations

import uuid

from structlog.testing import capture_logs

from tests.conftest import AppFactory, make_client

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
