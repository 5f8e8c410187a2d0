"""What every error a client gets looks like, and what no answer may contain."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from httpx import Response


def assert_envelope(body: Mapping[str, Any] | bytes | str, code: str) -> dict[str, Any]:
    """The one error envelope, exactly: `{"error": {code, message, details, request_id}}`,
    with this code, a message and a request id. Its `error` object."""
    parsed = json.loads(body) if isinstance(body, bytes | str) else body
    assert set(parsed) == {"error"}, parsed
    error: dict[str, Any] = parsed["error"]
    assert set(error) == {"code", "message", "details", "request_id"}, error
    assert error["code"] == code, error
    assert isinstance(error["message"], str)
    assert error["message"]
    assert isinstance(error["details"], dict)
    assert isinstance(error["request_id"], str)
    assert error["request_id"]
    return error


def assert_error(response: Response, status: int, code: str) -> dict[str, Any]:
    """An error answer as a client sees it: status, envelope, its request id in the header."""
    assert response.status_code == status, response.text
    error = assert_envelope(response.json(), code)
    assert error["request_id"] == response.headers["x-request-id"]
    if status == 401:
        assert response.headers["www-authenticate"] == "Bearer"
    return error


def error_fields(response: Response) -> Sequence[str]:
    return [e["field"] for e in response.json()["error"]["details"]["errors"]]


SECRET_MARKERS = ("password_hash", "token_hash", "$2b$")


def assert_no_secrets(response: Response, *secrets: str) -> None:
    """Nothing in the body that only the server should know."""
    text = response.text
    for marker in (*SECRET_MARKERS, *secrets):
        assert marker not in text
