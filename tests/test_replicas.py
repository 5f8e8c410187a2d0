"""Two replicas: two separate `storefront serve` processes (two workers each, as in the
Deployment) on one PostgreSQL database and one Redis, the way a load balancer spreads one
client over them. Limits hold across them, an idempotent retry that lands on the other replica
gets the same order, a logout-all on one is refused by the other at once, and each replica's
/metrics counts exactly the requests it served."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from storefront.core.database import create_database
from storefront.products.models import Product
from tests.support.environment import DEFAULT_PASSWORD, make_settings
from tests.support.servers import ServerProcess, running_server

# A Redis database of this test's own. Its keys are per client address and e-mail, both new
# on every run, so runs at the same time never count each other's requests.
REDIS_DB = 12
LOGIN_LIMIT = 5
API = "/api/v1"


@contextmanager
def two_replicas(tmp_path: Path, database_url: str) -> Iterator[tuple[ServerProcess, ...]]:
    shared = {
        "STOREFRONT_RATE_LIMIT_STORAGE_URI": f"redis://127.0.0.1:6379/{REDIS_DB}",
        "STOREFRONT_RATE_LIMIT_LOGIN": f"{LOGIN_LIMIT}/minute",
        "STOREFRONT_TRUSTED_PROXIES": "127.0.0.1",  # the test client plays the load balancer
    }
    with ExitStack() as stack:
        replicas = tuple(
            stack.enter_context(
                running_server(
                    tmp_path,
                    database_url=database_url,
                    workers=2,
                    # Each pod its own emptyDir.
                    env={**shared, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / f"metrics-{name}")},
                )
            )
            for name in ("a", "b")
        )
        yield replicas


async def add_product(database_url: str, stock: int) -> uuid.UUID:
    database = create_database(make_settings(database_url))
    try:
        async with database.sessionmaker() as session:
            product = Product(
                sku=f"SKU-{uuid.uuid4().hex[:8].upper()}",
                name="Replicated mug",
                description="",
                price_cents=1200,
                currency="EUR",
                stock=stock,
                is_active=True,
            )
            session.add(product)
            await session.commit()
            return product.id
    finally:
        await database.dispose()


def served(metrics_text: str, method: str, route: str, status: int) -> float:
    """`storefront_http_requests_total` for one method, route template and status (0 if none)."""
    for family in text_string_to_metric_families(metrics_text):
        for sample in family.samples:
            labels = sample.labels
            if sample.name == "storefront_http_requests_total" and (
                labels["method"],
                labels["route"],
                labels["status"],
            ) == (method, route, str(status)):
                return sample.value
    return 0.0


@pytest.mark.postgres
def test_two_replicas_behave_as_one_service(tmp_path: Path, fresh_database_url: str) -> None:
    product_id = asyncio.run(add_product(fresh_database_url, stock=10))
    email = f"replicated-{uuid.uuid4().hex[:8]}@example.com"
    client_address = f"198.18.{random.randint(0, 255)}.{random.randint(1, 254)}"
    forwarded = {"X-Forwarded-For": client_address}
    credentials = {"email": email, "password": DEFAULT_PASSWORD}

    with two_replicas(tmp_path, fresh_database_url) as (a, b), httpx.Client(timeout=10) as http:
        registered = http.post(
            f"{a.url}{API}/auth/register",
            json={**credentials, "full_name": "Rep Licated"},
            headers=forwarded,
        )
        assert registered.status_code == 201, registered.text

        # Rate limits: the load balancer alternates; the counts live in Redis.
        logins = [
            http.post(f"{replica.url}{API}/auth/login", json=credentials, headers=forwarded)
            for replica in (a, b, a, b, a, b, a)
        ]
        assert [r.status_code for r in logins] == [200] * LOGIN_LIMIT + [429, 429]
        tokens = logins[0].json()
        bearer = {**forwarded, "Authorization": f"Bearer {tokens['access_token']}"}

        # Idempotency: the retry of a POST /orders lands on the other replica.
        order = {"items": [{"product_id": str(product_id), "quantity": 2}]}
        keyed = {**bearer, "Idempotency-Key": str(uuid.uuid4())}
        first = http.post(f"{a.url}{API}/orders", json=order, headers=keyed)
        retry = http.post(f"{b.url}{API}/orders", json=order, headers=keyed)
        assert (first.status_code, retry.status_code) == (201, 201), (first.text, retry.text)
        assert retry.json() == first.json()
        assert retry.headers["Idempotent-Replayed"] == "true"
        listed = http.get(f"{b.url}{API}/orders", headers=bearer).json()["items"]
        assert [o["id"] for o in listed] == [first.json()["id"]]
        assert http.get(f"{a.url}{API}/products/{product_id}").json()["stock"] == 8

        # Sessions: a logout-all on one replica is honoured by the other at once.
        assert http.get(f"{b.url}{API}/users/me", headers=bearer).status_code == 200
        assert http.post(f"{a.url}{API}/auth/logout-all", headers=bearer).status_code == 204
        assert http.get(f"{b.url}{API}/users/me", headers=bearer).status_code == 401
        refreshed = http.post(
            f"{b.url}{API}/auth/refresh",
            json={"refresh_token": tokens["refresh_token"]},
            headers=forwarded,
        )
        assert refreshed.status_code == 401

        metrics = {name: http.get(f"{r.url}/metrics").text for name, r in (("a", a), ("b", b))}

    # Metrics: each replica adds up its own two workers, and counts only what it served.
    login = ("POST", f"{API}/auth/login")
    assert served(metrics["a"], *login, 200) == 3
    assert served(metrics["b"], *login, 200) == 2
    assert served(metrics["a"], *login, 429) == 1
    assert served(metrics["b"], *login, 429) == 1
    assert served(metrics["a"], "POST", f"{API}/orders", 201) == 1
    assert served(metrics["b"], "POST", f"{API}/orders", 201) == 1
    assert served(metrics["a"], "POST", f"{API}/auth/register", 201) == 1
    assert served(metrics["b"], "POST", f"{API}/auth/register", 201) == 0
    assert served(metrics["b"], "GET", f"{API}/users/me", 401) == 1
    assert served(metrics["a"], "GET", f"{API}/users/me", 401) == 0
