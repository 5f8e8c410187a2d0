"""E-mail verification: request a link, confirm it."""

from __future__ import annotations

from fastapi import FastAPI
from httpx import AsyncClient

from tests.support.assertions import assert_error, assert_no_secrets
from tests.support.clients import REGISTER, VERIFY, VERIFY_REQUEST, login
from tests.support.environment import DEFAULT_PASSWORD
from tests.support.factories import TestUser, UserFactory
from tests.support.mail import link_token, mails_to, outbox
from tests.support.rows import user_row


async def test_register_then_verify_with_the_mailed_link(app: FastAPI, client: AsyncClient) -> None:
    created = await client.post(
        REGISTER, json={"email": "ada@example.com", "password": DEFAULT_PASSWORD, "full_name": "A"}
    )
    token = link_token(mails_to(app, "ada@example.com", "Confirm")[0], "/verify-email")

    response = await client.post(VERIFY, json={"token": token})

    assert response.status_code == 200
    assert response.json()["id"] == created.json()["id"]
    assert response.json()["is_verified"] is True
    assert_no_secrets(response, token)
    assert (await user_row(app, created.json()["id"])).is_verified is True
    assert_error(await client.post(VERIFY, json={"token": token}), 400, "INVALID_TOKEN")


async def test_request_mails_a_new_link_and_only_the_newest_works(
    app: FastAPI, client: AsyncClient, make_user: UserFactory
) -> None:
    user = await make_user("new@example.com", is_verified=False)
    session = await login(client, user.email)

    first = await client.post(VERIFY_REQUEST, headers=session.headers)
    second = await client.post(VERIFY_REQUEST, headers=session.headers)

    assert first.status_code == second.status_code == 202
    old, new = (link_token(m, "/verify-email") for m in mails_to(app, user.email, "Confirm"))
    assert_error(await client.post(VERIFY, json={"token": old}), 400, "INVALID_TOKEN")
    assert (await client.post(VERIFY, json={"token": new})).status_code == 200


async def test_request_for_a_verified_address_sends_nothing(
    app: FastAPI, client: AsyncClient, customer: TestUser
) -> None:
    response = await client.post(VERIFY_REQUEST, headers=customer.headers)

    assert response.status_code == 202
    assert outbox(app) == []


async def test_request_needs_a_bearer_token(client: AsyncClient) -> None:
    assert_error(await client.post(VERIFY_REQUEST), 401, "UNAUTHORIZED")


async def test_an_unknown_verification_token_is_400(client: AsyncClient) -> None:
    assert_error(await client.post(VERIFY, json={"token": "nope"}), 400, "INVALID_TOKEN")


async def test_a_verification_body_must_be_exactly_a_token(client: AsyncClient) -> None:
    response = await client.post(VERIFY, json={"token": "x", "is_verified": True})

    assert_error(response, 422, "VALIDATION_ERROR")
