"""Oversized and malformed traffic (issue 6, point 6): each gets a 4xx in the error envelope, or
a clean connection close, never a 5xx, and the service keeps serving afterwards.

Bodies and values go to the routes that take them in real life: an order
(`POST /api/v1/orders` as a customer), the product search and the admin product routes. What
only a real HTTP server shows (a chunked body, a body that trickles in, a header block of
16 KiB, bytes that are not valid HTTP) is sent over a socket to `storefront serve`.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi import FastAPI
from httpx import AsyncClient

from storefront.core.database import create_database, utcnow
from storefront.core.migrations import upgrade_head
from storefront.core.security import AccessTokens, PasswordHasher
from storefront.products.models import Product
from storefront.users.models import User
from tests.support.assertions import assert_envelope
from tests.support.environment import (
    PG_URL,
    create_test_database,
    drop_test_database,
    make_settings,
)
from tests.support.factories import TestUser, insert_product
from tests.support.servers import ServerProcess, running_server

ORDERS = "/api/v1/orders"
PRODUCTS = "/api/v1/products"
MAX_BODY = 1_048_576  # the default STOREFRONT_MAX_BODY_BYTES
BODY_TIMEOUT = 1.0  # STOREFRONT_BODY_TIMEOUT_SECONDS of the server below
FOUR_HUNDRED_DIGITS = int("9" * 400)


def assert_client_error(status: int, body: bytes | str, code: str) -> None:
    assert 400 <= status < 500, (status, body)
    assert_envelope(body, code)


# --------------------------------------------------------------------------- in-process


@pytest.fixture
async def product(app: FastAPI) -> Product:
    return await insert_product(app, price_cents=500, stock=100)


def order_of(product: Product, quantity: object = 1) -> dict[str, object]:
    return {"items": [{"product_id": str(product.id), "quantity": quantity}]}


async def assert_still_serving(client: AsyncClient, customer: TestUser, product: Product) -> None:
    """The request after the bad one is served normally: an order is placed."""
    response = await client.post(ORDERS, json=order_of(product), headers=customer.headers)
    assert response.status_code == 201, response.text


async def post_order_bytes(client: AsyncClient, customer: TestUser, body: bytes) -> tuple[int, str]:
    headers = {**customer.headers, "Content-Type": "application/json"}
    response = await client.post(ORDERS, content=body, headers=headers)
    return response.status_code, response.text


async def test_body_over_the_limit_with_content_length_is_413(
    client: AsyncClient, customer: TestUser, product: Product
) -> None:
    body = json.dumps({"items": [], "padding": "x" * MAX_BODY}).encode()

    status, text = await post_order_bytes(client, customer, body)

    assert status == 413
    assert_client_error(status, text, "PAYLOAD_TOO_LARGE")
    assert json.loads(text)["error"]["details"] == {"max_bytes": MAX_BODY}
    await assert_still_serving(client, customer, product)


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b'{"items": [{"product_id": "\xff\xfe", "quantity": 1}]}', id="bad-bytes"),
        pytest.param(b'{"items": [{"product_id": "\xed\xa0\x80", "quantity": 1}]}', id="surrogate"),
        pytest.param(b"\xef\xbb\xbf\xc3\x28", id="bom-then-invalid"),
        pytest.param('{"items": []}'.encode("utf-16"), id="utf-16"),
    ],
)
async def test_invalid_utf8_is_a_4xx(
    client: AsyncClient, customer: TestUser, product: Product, body: bytes
) -> None:
    status, text = await post_order_bytes(client, customer, body)

    assert status in (400, 422), text
    assert_client_error(status, text, "BAD_REQUEST" if status == 400 else "VALIDATION_ERROR")
    await assert_still_serving(client, customer, product)


@pytest.mark.parametrize(
    "body",
    [
        pytest.param("[" * 10_000 + "]" * 10_000, id="arrays"),
        pytest.param('{"a":' * 10_000 + "1" + "}" * 10_000, id="objects"),
        pytest.param(
            '{"items": [{"product_id": ' + "[" * 10_000 + "]" * 10_000 + ', "quantity": 1}]}',
            id="inside-an-order",
        ),
    ],
)
async def test_json_nested_10000_deep_is_a_4xx(
    client: AsyncClient, customer: TestUser, product: Product, body: str
) -> None:
    status, text = await post_order_bytes(client, customer, body.encode())

    assert status in (400, 422), text
    assert_client_error(status, text, "BAD_REQUEST" if status == 400 else "VALIDATION_ERROR")
    await assert_still_serving(client, customer, product)


@pytest.mark.parametrize(
    "quantity",
    [
        pytest.param(FOUR_HUNDRED_DIGITS, id="400-digits"),
        pytest.param(-FOUR_HUNDRED_DIGITS, id="minus-400-digits"),
        pytest.param("1e400", id="1e400"),
        pytest.param("0." + "0" * 399 + "1", id="400-digit-fraction"),
    ],
)
async def test_numbers_of_400_digits_in_an_order_are_422(
    client: AsyncClient, customer: TestUser, product: Product, quantity: object
) -> None:
    raw = json.dumps(order_of(product, "QUANTITY")).replace('"QUANTITY"', str(quantity))

    status, text = await post_order_bytes(client, customer, raw.encode())

    assert status == 422, text
    assert_client_error(status, text, "VALIDATION_ERROR")
    fields = [e["field"] for e in json.loads(text)["error"]["details"]["errors"]]
    assert fields == ["body.items.0.quantity"]
    assert str(FOUR_HUNDRED_DIGITS) not in text  # the value is not echoed
    await assert_still_serving(client, customer, product)


async def test_numbers_of_400_digits_in_a_product_and_a_query_are_422(
    client: AsyncClient, admin: TestUser, customer: TestUser, product: Product
) -> None:
    created = await client.post(
        "/api/v1/admin/products",
        content=(
            f'{{"sku": "BIG-1", "name": "Big", "price_cents": {FOUR_HUNDRED_DIGITS}, '
            f'"stock": {FOUR_HUNDRED_DIGITS}}}'
        ).encode(),
        headers={**admin.headers, "Content-Type": "application/json"},
    )
    listed = await client.get(
        PRODUCTS, params={"min_price_cents": str(FOUR_HUNDRED_DIGITS), "limit": "9" * 400}
    )

    assert created.status_code == 422
    assert_client_error(created.status_code, created.text, "VALIDATION_ERROR")
    assert {e["field"] for e in created.json()["error"]["details"]["errors"]} == {
        "body.price_cents",
        "body.stock",
    }
    assert listed.status_code == 422
    assert {e["field"] for e in listed.json()["error"]["details"]["errors"]} == {
        "query.min_price_cents",
        "query.limit",
    }
    await assert_still_serving(client, customer, product)


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b'{"items": [{"product_id": "\\u0000", "quantity": 1}]}', id="escaped"),
        pytest.param(b'{"items": [{"product_id": "\x00", "quantity": 1}]}', id="raw-byte"),
        pytest.param(b'{"items\\u0000": []}', id="in-a-key"),
    ],
)
async def test_nul_in_a_json_string_is_422(
    client: AsyncClient, customer: TestUser, product: Product, body: bytes
) -> None:
    status, text = await post_order_bytes(client, customer, body)

    assert status == 422, text
    assert_client_error(status, text, "VALIDATION_ERROR")
    await assert_still_serving(client, customer, product)


async def test_nul_in_a_product_name_is_422_and_nothing_is_stored(
    client: AsyncClient, admin: TestUser, customer: TestUser, product: Product
) -> None:
    response = await client.post(
        "/api/v1/admin/products",
        json={"sku": "NUL-1", "name": "bad\x00name", "price_cents": 1},
        headers=admin.headers,
    )
    listed = await client.get("/api/v1/admin/products", headers=admin.headers)

    assert response.status_code == 422
    assert_client_error(response.status_code, response.text, "VALIDATION_ERROR")
    assert [p["sku"] for p in listed.json()["items"]] == [product.sku]
    await assert_still_serving(client, customer, product)


@pytest.mark.parametrize("query", ["q=%00", "q=abc%00def", "in_stock=true&q=x%00", "cursor=%00"])
async def test_nul_in_a_query_parameter_is_422(
    client: AsyncClient, customer: TestUser, product: Product, query: str
) -> None:
    response = await client.get(f"{PRODUCTS}?{query}")

    assert response.status_code == 422
    assert_client_error(response.status_code, response.text, "VALIDATION_ERROR")
    await assert_still_serving(client, customer, product)


@pytest.mark.parametrize("size", [16 * 1024, 64 * 1024])
async def test_headers_of_16_kib_are_431(
    client: AsyncClient, customer: TestUser, product: Product, size: int
) -> None:
    headers = {**customer.headers, "X-Padding": "a" * size}

    response = await client.post(ORDERS, json=order_of(product), headers=headers)

    assert response.status_code == 431
    assert_client_error(response.status_code, response.text, "REQUEST_HEADER_FIELDS_TOO_LARGE")
    assert response.headers["x-request-id"]
    await assert_still_serving(client, customer, product)


# --------------------------------------------------------------------------- over a socket


@dataclass
class RawResponse:
    status: int | None  # None: the server closed the connection without an answer
    headers: dict[str, str]
    body: bytes


@dataclass
class LiveService:
    server: ServerProcess
    token: str
    product_id: str

    def order(self, quantity: int = 1) -> bytes:
        return json.dumps(
            {"items": [{"product_id": self.product_id, "quantity": quantity}]}
        ).encode()

    def request_head(self, method: str, target: str, *extra: str) -> bytes:
        lines = [
            f"{method} {target} HTTP/1.1",
            f"Host: 127.0.0.1:{self.server.port}",
            "Connection: close",
            f"Authorization: Bearer {self.token}",
            *extra,
        ]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    def assert_still_serving(self) -> None:
        body = self.order()
        head = self.request_head(
            "POST", ORDERS, "Content-Type: application/json", f"Content-Length: {len(body)}"
        )
        response = exchange(self.server.port, head + body)
        assert response.status == 201, response
        assert exchange(self.server.port, self.request_head("GET", "/health/live")).status == 200


def read_response(sock: socket.socket, timeout: float) -> RawResponse:
    sock.settimeout(timeout)
    data = b""
    try:
        while chunk := sock.recv(65_536):
            data += chunk
    except ConnectionResetError:
        pass  # the server answered and closed without reading the rest of our body
    if not data:
        return RawResponse(status=None, headers={}, body=b"")
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return RawResponse(status=int(status_line.split()[1]), headers=headers, body=body)


def exchange(port: int, *parts: bytes, pause: float = 0.0, timeout: float = 10.0) -> RawResponse:
    """Send `parts` (sleeping `pause` between them), then read until the server closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        for index, part in enumerate(parts):
            if index and pause:
                time.sleep(pause)
            try:
                sock.sendall(part)
            except (BrokenPipeError, ConnectionResetError):
                break  # the server has already answered and stopped reading
        return read_response(sock, timeout)


async def _insert_customer_and_product(url: str) -> tuple[User, Product]:
    settings = make_settings(url)
    database = create_database(settings)
    try:
        async with database.sessionmaker() as session:
            user = User(
                email="socket@example.com",
                full_name="Socket Customer",
                password_hash=await PasswordHasher(4).hash("correct horse battery staple"),
                role="customer",
            )
            product = Product(
                sku="SOCK-1", name="Sock", price_cents=300, currency="EUR", stock=1000
            )
            session.add_all([user, product])
            await session.commit()
    finally:
        await database.dispose()
    return user, product


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveService]:
    """One `storefront serve` for the socket tests, on a database of its own."""
    tmp_path = tmp_path_factory.mktemp("malformed")
    url = create_test_database(PG_URL) if PG_URL else f"sqlite+aiosqlite:///{tmp_path / 'db'}"
    try:
        upgrade_head(url)
        user, product = asyncio.run(_insert_customer_and_product(url))
        token = AccessTokens(make_settings(url)).issue(user.id, utcnow())
        env = {"STOREFRONT_BODY_TIMEOUT_SECONDS": str(BODY_TIMEOUT)}
        with running_server(tmp_path, database_url=url, env=env) as server:
            yield LiveService(server=server, token=token, product_id=str(product.id))
    finally:
        if PG_URL:
            drop_test_database(url)


def envelope_of(response: RawResponse, status: int, code: str) -> None:
    assert response.status == status, response
    assert response.headers["content-type"] == "application/json"
    assert_client_error(status, response.body, code)


def test_socket_body_over_the_limit_with_content_length_is_413(live: LiveService) -> None:
    head = live.request_head(
        "POST", ORDERS, "Content-Type: application/json", f"Content-Length: {MAX_BODY + 1}"
    )

    # The answer comes from the header alone; the body is not waited for.
    response = exchange(live.server.port, head, b"x" * 1000)

    envelope_of(response, 413, "PAYLOAD_TOO_LARGE")
    assert response.headers["connection"] == "close"
    live.assert_still_serving()


def test_socket_chunked_body_over_the_limit_is_413(live: LiveService) -> None:
    head = live.request_head(
        "POST", ORDERS, "Content-Type: application/json", "Transfer-Encoding: chunked"
    )
    chunk = b"%x\r\n%s\r\n" % (64 * 1024, b"x" * 64 * 1024)
    chunks = [chunk] * (MAX_BODY // (64 * 1024) + 4) + [b"0\r\n\r\n"]

    response = exchange(live.server.port, head, *chunks)

    envelope_of(response, 413, "PAYLOAD_TOO_LARGE")
    live.assert_still_serving()


def test_socket_slow_body_is_408(live: LiveService) -> None:
    body = live.order()
    head = live.request_head(
        "POST", ORDERS, "Content-Type: application/json", f"Content-Length: {len(body)}"
    )
    started = time.monotonic()

    # Half the body, then nothing for longer than the body timeout.
    response = exchange(live.server.port, head + body[:10], pause=BODY_TIMEOUT * 2)

    envelope_of(response, 408, "REQUEST_TIMEOUT")
    assert time.monotonic() - started < BODY_TIMEOUT + 5
    live.assert_still_serving()


def test_socket_chunked_body_that_stalls_is_408(live: LiveService) -> None:
    head = live.request_head(
        "POST", ORDERS, "Content-Type: application/json", "Transfer-Encoding: chunked"
    )
    body = live.order()

    response = exchange(
        live.server.port, head + b"%x\r\n%s\r\n" % (10, body[:10]), b"", pause=BODY_TIMEOUT * 2
    )

    envelope_of(response, 408, "REQUEST_TIMEOUT")
    live.assert_still_serving()


@pytest.mark.parametrize("size", [16 * 1024, 64 * 1024])
def test_socket_headers_of_16_kib_are_431(live: LiveService, size: int) -> None:
    head = live.request_head("GET", PRODUCTS, "X-Padding: " + "a" * size)

    response = exchange(live.server.port, head)

    envelope_of(response, 431, "REQUEST_HEADER_FIELDS_TOO_LARGE")
    live.assert_still_serving()


def test_socket_many_headers_adding_up_to_16_kib_are_431(live: LiveService) -> None:
    padding = [f"X-Padding-{n}: {'b' * 200}" for n in range(90)]
    head = live.request_head("GET", PRODUCTS, *padding)

    response = exchange(live.server.port, head)

    envelope_of(response, 431, "REQUEST_HEADER_FIELDS_TOO_LARGE")
    live.assert_still_serving()


def test_socket_percent_encoded_nul_in_a_query_is_422(live: LiveService) -> None:
    response = exchange(live.server.port, live.request_head("GET", f"{PRODUCTS}?q=a%00b"))

    envelope_of(response, 422, "VALIDATION_ERROR")
    live.assert_still_serving()


@pytest.mark.parametrize(
    "request_bytes",
    [
        pytest.param(b"GET /api/v1/products?q=a\x00b HTTP/1.1\r\nHost: x\r\n\r\n", id="raw-nul"),
        pytest.param(
            b"GET /health/live HTTP/1.1\r\nHost: x\r\nX-Bad: a\x00b\r\n\r\n", id="nul-hdr"
        ),
        pytest.param(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(64), id="tls-hello"),
        pytest.param(
            b"POST /api/v1/orders HTTP/1.1\r\nContent-Length: -1\r\n\r\n", id="neg-length"
        ),
    ],
)
def test_socket_bytes_that_are_not_http_get_a_400_and_a_close(
    live: LiveService, request_bytes: bytes
) -> None:
    """The HTTP parser refuses these before any route sees them: uvicorn answers 400 (plain
    text: there is no request to carry an id yet) and closes the connection."""
    response = exchange(live.server.port, request_bytes)

    assert response.status in (None, 400), response
    live.assert_still_serving()
