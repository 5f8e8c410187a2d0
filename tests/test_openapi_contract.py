"""The OpenAPI document is a reviewed file (`openapi.json`), and it says exactly what the API
sends: fields always sent are required, error details are typed per kind, no body is left
untyped, and operation ids read once in generated code."""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest
from httpx import AsyncClient, Response

from storefront.auth.errors import InvalidToken
from storefront.cli import openapi_json
from storefront.core.config import Settings
from storefront.core.errors import AppError, BadRequest, Conflict, ValidationFailed
from storefront.orders.errors import (
    IdempotencyInProgress,
    IdempotencyKeyMismatch,
    InsufficientStock,
)
from storefront.products.errors import SkuTaken
from storefront.users.errors import EmailTaken, PasswordChangedMeanwhile, WrongPassword
from tests.support.factories import ProductFactory, TestUser

ROOT = Path(__file__).resolve().parents[1]
COMMITTED = ROOT / "openapi.json"
REGENERATE = "uv run storefront openapi > openapi.json"
REF_PREFIX = "#/components/schemas/"


@pytest.fixture(scope="module")
def generated() -> str:
    return openapi_json(Settings(_env_file=None, environment="test"))  # type: ignore[call-arg]


@pytest.fixture(scope="module")
def document(generated: str) -> dict[str, Any]:
    parsed: dict[str, Any] = json.loads(generated)
    return parsed


def component(document: dict[str, Any], ref: str) -> dict[str, Any]:
    found: dict[str, Any] = document["components"]["schemas"][ref.removeprefix(REF_PREFIX)]
    return found


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, operation)
        for path, by_method in document["paths"].items()
        for method, operation in by_method.items()
    ]


def response_schema(document: dict[str, Any], path: str, method: str, status: int) -> Any:
    answer = document["paths"][path][method]["responses"][str(status)]
    return answer["content"]["application/json"]["schema"]


def assert_documented(document: dict[str, Any], path: str, method: str, answer: Response) -> None:
    """The body matches what the document says this route answers with this status."""
    schema = {
        **response_schema(document, path, method, answer.status_code),
        "components": document["components"],
    }
    jsonschema_rs.Draft202012Validator(schema).validate(answer.json())


# --------------------------------------------------------------------------- the snapshot


def test_committed_document_is_what_the_code_generates(generated: str) -> None:
    committed = COMMITTED.read_text(encoding="utf-8") if COMMITTED.exists() else ""
    if committed != generated:
        diff = difflib.unified_diff(
            committed.splitlines(), generated.splitlines(), "openapi.json", "generated", n=1
        )
        shown = "\n".join(list(diff)[:60])
        pytest.fail(
            f"openapi.json differs from what the code generates. Regenerate it with "
            f"`{REGENERATE}` and commit it (the diff is the API change to review):\n{shown}"
        )


# --------------------------------------------------------------------------- exact types


def _response_components(document: dict[str, Any]) -> set[str]:
    """Every component a response refers to, transitively."""
    pending: list[Any] = [
        answer.get("content")
        for _path, _method, operation in operations(document)
        for answer in operation["responses"].values()
    ]
    names: set[str] = set()
    while pending:
        node = pending.pop()
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.removeprefix(REF_PREFIX) not in names:
                names.add(ref.removeprefix(REF_PREFIX))
                pending.append(component(document, ref))
            pending.extend(node.values())
        elif isinstance(node, list):
            pending.extend(node)
    return names


def test_every_field_of_a_response_is_required(document: dict[str, Any]) -> None:
    """A client handles `undefined` for nothing: whatever the service always sends is
    `required`, defaults included (pydantic's serialization-mode schema)."""
    # Sent only when the limit is known up front (a declared Content-Length).
    sometimes_sent = {("PayloadTooLargeDetails", "max_bytes")}
    names = _response_components(document)
    assert {"TokenPair", "Page_ProductRead_", "NotFoundBody", "Accepted"} <= names
    for name in names:
        schema = document["components"]["schemas"][name]
        for field in schema.get("properties", {}):
            if (name, field) not in sometimes_sent:
                assert field in schema.get("required", []), f"{name}.{field} is optional"
    schemas = document["components"]["schemas"]
    assert "token_type" in schemas["TokenPair"]["required"]
    assert "next_cursor" in schemas["Page_OrderRead_"]["required"]
    assert {"details", "request_id"} <= set(schemas["ValidationFailedBody"]["required"])


def test_request_fields_with_defaults_stay_optional(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    assert schemas["ProductCreate"]["required"] == ["sku", "name", "price_cents"]
    assert "role" not in schemas["AdminUserCreate"]["required"]
    assert "grant_type" not in schemas["TokenForm"]["required"]


def test_no_response_body_is_left_untyped(document: dict[str, Any]) -> None:
    """What a generator would type `unknown`: a body with an empty schema, or an object whose
    values are anything."""
    for path, method, operation in operations(document):
        for status, answer in operation["responses"].items():
            for media in answer.get("content", {}).values():
                assert media.get("schema"), (path, method, status)
    for name in _response_components(document):
        schema = document["components"]["schemas"][name]
        assert schema.get("additionalProperties") is not True, name
        for field, definition in schema.get("properties", {}).items():
            assert definition, f"{name}.{field} has an empty schema"


def test_every_422_documents_its_field_errors(document: dict[str, Any]) -> None:
    field_error = document["components"]["schemas"]["FieldError"]
    assert field_error["required"] == ["field", "message", "type"]
    checked = 0
    for path, method, operation in operations(document):
        if "422" not in operation["responses"]:
            continue
        schema = response_schema(document, path, method, 422)
        for envelope_ref in [schema, *schema.get("anyOf", [])]:
            if "$ref" not in envelope_ref:
                continue
            body = component(
                document, component(document, envelope_ref["$ref"])["properties"]["error"]["$ref"]
            )
            details = component(document, body["properties"]["details"]["$ref"])
            assert details["required"] == ["errors"]
            assert details["properties"]["errors"]["items"] == {"$ref": REF_PREFIX + "FieldError"}
            checked += 1
    assert checked > 20


def test_plain_errors_document_an_empty_details_object(document: dict[str, Any]) -> None:
    body = component(document, "NotFoundBody")
    assert body["properties"]["code"]["const"] == "NOT_FOUND"
    no_details = component(document, body["properties"]["details"]["$ref"])
    assert no_details["type"] == "object"
    assert no_details["properties"] == {}
    assert no_details["additionalProperties"] is False


def test_a_status_with_several_kinds_lists_each(document: dict[str, Any]) -> None:
    conflict = response_schema(document, "/api/v1/orders", "post", 409)
    assert [kind["$ref"] for kind in conflict["anyOf"]] == [
        REF_PREFIX + "InsufficientStockError",
        REF_PREFIX + "IdempotencyInProgressError",
        REF_PREFIX + "ConflictError",
    ]
    cancel = response_schema(document, "/api/v1/orders/{order_id}/cancel", "post", 409)
    assert [kind["$ref"] for kind in cancel["anyOf"]] == [
        REF_PREFIX + "InvalidTransitionError",
        REF_PREFIX + "ConflictError",
    ]


def test_every_write_documents_the_retryable_conflict(document: dict[str, Any]) -> None:
    """A transaction the database undid (deadlock, serialisation failure) is a 409 `CONFLICT`
    with `Retry-After`, on any route that writes."""
    writes = [op for op in operations(document) if op[0].startswith("/api/") and op[1] != "get"]
    assert len(writes) > 20
    for path, method, operation in writes:
        schema = response_schema(document, path, method, 409)
        kinds = [kind["$ref"] for kind in schema.get("anyOf", [schema])]
        assert REF_PREFIX + "ConflictError" in kinds, (path, method)
        assert "Retry-After" in operation["responses"]["409"]["headers"]
    reads = [op for op in operations(document) if op[1] == "get"]
    assert all("409" not in operation["responses"] for _, _, operation in reads)


def test_accepted_answers_have_a_documented_body(document: dict[str, Any]) -> None:
    for path in ("/api/v1/auth/password/forgot", "/api/v1/auth/verify/request"):
        schema = response_schema(document, path, "post", 202)
        assert component(document, schema["$ref"])["properties"]["status"]["const"] == "accepted"


def test_the_catalogue_documents_its_cache_headers_and_304(document: dict[str, Any]) -> None:
    for path in ("/api/v1/products", "/api/v1/products/{product_id}"):
        responses = document["paths"][path]["get"]["responses"]
        assert set(responses["200"]["headers"]) == {"ETag", "Cache-Control"}
        assert set(responses["304"]["headers"]) == {"ETag", "Cache-Control"}
        assert "content" not in responses["304"]
        parameters = document["paths"][path]["get"]["parameters"]
        assert {"name": "If-None-Match", "in": "header"}.items() <= next(
            p for p in parameters if p["name"] == "If-None-Match"
        ).items()


def _words(operation_id: str) -> list[str]:
    # As a generator names the function: `admin-list_products` -> adminListProducts.
    return [word.lower().removesuffix("s") for word in re.split(r"[-_]", operation_id)]


def test_operation_ids_say_each_word_once(document: dict[str, Any]) -> None:
    for path, method, operation in operations(document):
        words = _words(operation["operationId"])
        assert len(words) == len(set(words)), (path, method, operation["operationId"])


def test_operation_id_check_catches_a_stutter() -> None:
    assert len(set(_words("products-list_products"))) < 3
    assert len(set(_words("orders-get_order"))) < 3


# --------------------------------------------------------------------------- what is sent


async def test_accepted_answers_send_their_documented_body(
    client: AsyncClient, customer: TestUser, document: dict[str, Any]
) -> None:
    forgot = await client.post("/api/v1/auth/password/forgot", json={"email": "nobody@example.com"})
    verify = await client.post("/api/v1/auth/verify/request", headers=customer.headers)
    for path, answer in (
        ("/api/v1/auth/password/forgot", forgot),
        ("/api/v1/auth/verify/request", verify),
    ):
        assert answer.status_code == 202
        assert answer.json() == {"status": "accepted"}
        assert_documented(document, path, "post", answer)


async def test_errors_sent_match_their_documented_kind(
    client: AsyncClient,
    customer: TestUser,
    admin: TestUser,
    make_product: ProductFactory,
    document: dict[str, Any],
) -> None:
    product = await make_product(stock=1)
    line = {"items": [{"product_id": str(product.id), "quantity": 5}]}
    cases: list[tuple[str, str, int, str, Callable[[], Awaitable[Response]]]] = [
        (
            "/api/v1/products/{product_id}",
            "get",
            404,
            "NOT_FOUND",
            lambda: client.get("/api/v1/products/00000000-0000-4000-8000-000000000000"),
        ),
        (
            "/api/v1/products",
            "get",
            422,
            "VALIDATION_ERROR",
            lambda: client.get("/api/v1/products?limit=0"),
        ),
        ("/api/v1/users/me", "get", 401, "UNAUTHORIZED", lambda: client.get("/api/v1/users/me")),
        (
            "/api/v1/orders",
            "post",
            409,
            "INSUFFICIENT_STOCK",
            lambda: client.post("/api/v1/orders", json=line, headers=customer.headers),
        ),
        (
            "/api/v1/admin/products",
            "post",
            409,
            "SKU_TAKEN",
            lambda: client.post(
                "/api/v1/admin/products",
                headers=admin.headers,
                json={"sku": product.sku, "name": "Copy", "price_cents": 1},
            ),
        ),
        (
            "/api/v1/admin/products",
            "get",
            403,
            "FORBIDDEN",
            lambda: client.get("/api/v1/admin/products", headers=customer.headers),
        ),
    ]
    for path, method, status, code, send in cases:
        answer = await send()
        assert answer.status_code == status, (path, answer.text)
        assert answer.json()["error"]["code"] == code
        assert_documented(document, path, method, answer)


async def test_an_order_that_cannot_move_sends_the_documented_transition(
    client: AsyncClient,
    customer: TestUser,
    make_product: ProductFactory,
    document: dict[str, Any],
) -> None:
    product = await make_product()
    line = {"items": [{"product_id": str(product.id), "quantity": 1}]}
    order = (await client.post("/api/v1/orders", json=line, headers=customer.headers)).json()
    cancel = f"/api/v1/orders/{order['id']}/cancel"
    assert (await client.post(cancel, headers=customer.headers)).status_code == 200

    again = await client.post(cancel, headers=customer.headers)

    assert again.status_code == 409
    assert again.json()["error"]["details"] == {"from": "cancelled", "to": "cancelled"}
    assert_documented(document, "/api/v1/orders/{order_id}/cancel", "post", again)


@pytest.mark.parametrize(
    ("path", "method", "status", "raised"),
    [
        ("/api/v1/orders", "post", "409", [InsufficientStock, IdempotencyInProgress, Conflict]),
        ("/api/v1/orders", "post", "422", [ValidationFailed, IdempotencyKeyMismatch]),
        ("/api/v1/users/me", "patch", "409", [EmailTaken, PasswordChangedMeanwhile]),
        ("/api/v1/users/me", "delete", "403", [WrongPassword]),
        ("/api/v1/auth/password/reset", "post", "400", [InvalidToken, BadRequest]),
        ("/api/v1/admin/products", "post", "409", [SkuTaken, Conflict]),
    ],
)
def test_an_operation_lists_the_codes_of_the_error_classes_it_raises(
    document: dict[str, Any],
    path: str,
    method: str,
    status: str,
    raised: list[type[AppError]],
) -> None:
    """The codes come from the classes the code raises: each kind's `code` is a constant
    that equals the class's, and the status's description names them."""
    response = document["paths"][path][method]["responses"][status]
    schema = response["content"]["application/json"]["schema"]
    kinds = [component(document, ref["$ref"]) for ref in schema.get("anyOf", [schema])]
    bodies = [component(document, kind["properties"]["error"]["$ref"]) for kind in kinds]
    documented = {body["properties"]["code"]["const"] for body in bodies}
    assert documented == {error.code for error in raised}
    for error in raised:
        assert error.status_code == int(status)
        assert f"`{error.code}`" in response["description"]
