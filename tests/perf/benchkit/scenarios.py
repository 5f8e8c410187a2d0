"""The benchmarked scenarios: what wrk drives, and the one request that probes it.

Every scenario runs the same way against Storefront and against the baseline; only the base
URL and the fixtures (tokens, ids) differ. `storm` is a mixed run: `products` again, while a
second wrk drives a login storm beside it; `attack_products` and `attack_users_me` are those
reads again while a second wrk drives a storm of wrong-password logins from 16 client IPs.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import httpx

from benchkit.fixtures import READER, Fixtures
from benchkit.seed import SEED_PASSWORD, email_of
from benchkit.wrk import WrkJob

PERF_DIR = Path(__file__).resolve().parents[1]
LOGIN_SCRIPT = PERF_DIR / "login.lua"
CONDITIONAL_GET_SCRIPT = PERF_DIR / "conditional_get.lua"
PRODUCTS_PATH = "/api/v1/products?limit=20&in_stock=true"
STORM = "storm"
STORM_LOGIN = "storm_login"  # the login side of the storm, recorded beside it
WRONG_PASSWORD = "not-the-bench-password"
FORWARDED_CLIENTS = "16"  # the wrong-password storm comes from this many client IPs

Kind = Literal["health", "read", "write", "login", "storm", "attack"]


@dataclass(frozen=True)
class Scenario:
    name: str
    title: str
    kind: Kind
    method: str
    path: str  # may hold {order_id}
    script: str  # get.lua / post_order.lua (shared), login.lua / conditional_get.lua (ours)
    token: Literal["reader", "poster"] | None = None
    extra_env: Mapping[str, str] = field(default_factory=dict)
    expected_status: int | None = None  # the probe's answer; None: any 2xx

    def url(self, base_url: str, fixtures: Fixtures) -> str:
        return base_url + self.path.format(order_id=fixtures.order_id)

    def env(self, fixtures: Fixtures, label: str) -> dict[str, str]:
        env = {"WRK_LABEL": label, **self.extra_env}
        if self.token is not None:
            env["WRK_TOKEN"] = _token(self.token, fixtures)
        if self.script == "post_order.lua":
            env["WRK_PRODUCT_IDS"] = ",".join(fixtures.product_ids)
        return env

    def job(
        self,
        base_url: str,
        fixtures: Fixtures,
        scripts: Mapping[str, Path],
        *,
        duration_s: float,
        connections: int,
        label: str,
    ) -> WrkJob:
        return WrkJob(
            url=self.url(base_url, fixtures),
            script=scripts[self.script],
            duration_s=duration_s,
            connections=connections,
            env=self.env(fixtures, label),
        )

    def probe(self, client: httpx.Client, base_url: str, fixtures: Fixtures) -> httpx.Response:
        """One request like the ones wrk will send; the caller checks it is a 2xx."""
        headers = {"Accept": "application/json"}
        if self.token is not None:
            headers["Authorization"] = f"Bearer {_token(self.token, fixtures)}"
        body: dict[str, Any] | None = None
        if self.script == "post_order.lua":
            headers["Idempotency-Key"] = f"probe-{uuid.uuid4()}"
            body = {"items": [{"product_id": fixtures.product_ids[0], "quantity": 1}]}
        elif self.script == "login.lua":
            body = {"email": email_of(READER), "password": SEED_PASSWORD}
        return client.request(self.method, self.url(base_url, fixtures), headers=headers, json=body)


def _token(which: str, fixtures: Fixtures) -> str:
    return fixtures.reader_token if which == "reader" else fixtures.poster_token


_IDENTITY = {"Accept": "application/json", "Accept-Encoding": "identity"}


@dataclass(frozen=True)
class ConditionalGet(Scenario):
    """A GET that revalidates: `If-None-Match` holds the current ETag, the answer is 304 with
    no body. The tag is read from the server just before each wrk run (wrk sends no
    Accept-Encoding, so it is the identity representation's tag). A server without ETags
    (the baseline) answers its probe 200 and is skipped."""

    script: str = "conditional_get.lua"
    expected_status: int | None = 304

    def job(
        self,
        base_url: str,
        fixtures: Fixtures,
        scripts: Mapping[str, Path],
        *,
        duration_s: float,
        connections: int,
        label: str,
    ) -> WrkJob:
        job = super().job(
            base_url, fixtures, scripts, duration_s=duration_s, connections=connections, label=label
        )
        etag = httpx.get(job.url, headers=_IDENTITY, timeout=30).headers.get("etag", "")
        return dataclasses.replace(job, env={**job.env, "WRK_IF_NONE_MATCH": etag})

    def probe(self, client: httpx.Client, base_url: str, fixtures: Fixtures) -> httpx.Response:
        url = self.url(base_url, fixtures)
        etag = client.get(url, headers=_IDENTITY).headers.get("etag", "")
        return client.get(url, headers={**_IDENTITY, "If-None-Match": etag})


SCENARIOS: tuple[Scenario, ...] = (
    Scenario("health", "GET /health/live", "health", "GET", "/health/live", "get.lua"),
    Scenario(
        "products",
        "GET /api/v1/products?limit=20&in_stock=true",
        "read",
        "GET",
        PRODUCTS_PATH,
        "get.lua",
    ),
    ConditionalGet(
        "products_304",
        "GET /api/v1/products?limit=20&in_stock=true, If-None-Match matching (304)",
        "read",
        "GET",
        PRODUCTS_PATH,
    ),
    Scenario(
        "users_me", "GET /api/v1/users/me", "read", "GET", "/api/v1/users/me", "get.lua", "reader"
    ),
    Scenario(
        "order",
        "GET /api/v1/orders/{id}",
        "read",
        "GET",
        "/api/v1/orders/{order_id}",
        "get.lua",
        "reader",
    ),
    Scenario(
        "orders",
        "GET /api/v1/orders?limit=20",
        "read",
        "GET",
        "/api/v1/orders?limit=20",
        "get.lua",
        "reader",
    ),
    Scenario(
        "post_order",
        "POST /api/v1/orders (1 line, fresh Idempotency-Key)",
        "write",
        "POST",
        "/api/v1/orders",
        "post_order.lua",
        "poster",
        {"WRK_IDEMPOTENCY": "unique", "WRK_LINES": "1", "WRK_QUANTITY": "1"},
    ),
    Scenario(
        "login",
        "POST /api/v1/auth/login (bcrypt 12)",
        "login",
        "POST",
        "/api/v1/auth/login",
        "login.lua",
    ),
    Scenario(
        STORM,
        "GET /api/v1/products during a login storm",
        "storm",
        "GET",
        PRODUCTS_PATH,
        "get.lua",
    ),
)
BY_NAME: dict[str, Scenario] = {scenario.name: scenario for scenario in SCENARIOS}
LOGIN = BY_NAME["login"]
# A storm of wrong-password logins (bcrypt cost 12) from FORWARDED_CLIENTS client IPs,
# through `X-Forwarded-For` (the benchmarked Storefront trusts 127.0.0.1 as its proxy). Its
# own answers are 401, 429 or 503 by design; it only runs beside the `attack_*` scenarios.
WRONG_LOGIN = Scenario(
    "wrong_login",
    "POST /api/v1/auth/login, wrong password",
    "login",
    "POST",
    "/api/v1/auth/login",
    "login.lua",
    extra_env={"WRK_PASSWORD": WRONG_PASSWORD, "WRK_FORWARDED_IPS": FORWARDED_CLIENTS},
)
# The reads measured beside it, each compared with the same read alone.
ATTACKED: dict[str, str] = {"attack_products": "products", "attack_users_me": "users_me"}
SCENARIOS += (
    Scenario(
        "attack_products",
        "GET /api/v1/products during a wrong-password storm",
        "attack",
        "GET",
        PRODUCTS_PATH,
        "get.lua",
    ),
    Scenario(
        "attack_users_me",
        "GET /api/v1/users/me during a wrong-password storm",
        "attack",
        "GET",
        "/api/v1/users/me",
        "get.lua",
        "reader",
    ),
)
BY_NAME.update({scenario.name: scenario for scenario in SCENARIOS})


def storm_of(scenario: Scenario) -> tuple[Scenario, str]:
    """The storm driven beside a `storm`/`attack` scenario, and the key its result is
    recorded under."""
    if scenario.kind == "attack":
        return WRONG_LOGIN, f"{scenario.name}_storm"
    return LOGIN, STORM_LOGIN


def select(names: list[str]) -> list[Scenario]:
    """The named scenarios in table order; a scenario measured beside a storm needs the same
    read alone to compare with."""
    unknown = sorted(set(names) - set(BY_NAME))
    if unknown:
        raise ValueError(f"unknown scenario(s): {', '.join(unknown)}; known: {', '.join(BY_NAME)}")
    wanted = set(names)
    if STORM in wanted:
        wanted.add("products")
    wanted |= {alone for attacked, alone in ATTACKED.items() if attacked in wanted}
    return [scenario for scenario in SCENARIOS if scenario.name in wanted]


def script_paths(shared_dir: Path) -> dict[str, Path]:
    return {
        "get.lua": shared_dir / "get.lua",
        "post_order.lua": shared_dir / "post_order.lua",
        "login.lua": LOGIN_SCRIPT,
        "conditional_get.lua": CONDITIONAL_GET_SCRIPT,
    }
