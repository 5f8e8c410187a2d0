"""One-time links obey the address they were mailed to: an e-mail change voids them (and the
old address is told), a reset proves only the address it went to, a password change voids
reset links; mails to an unproven address greet nobody by a name the registrant typed."""

from __future__ import annotations

from fastapi import FastAPI
from httpx import AsyncClient

from tests.support.assertions import assert_error
from tests.support.clients import (
    LOGIN,
    ME,
    PASSWORD_CHANGE,
    PASSWORD_FORGOT,
    PASSWORD_RESET,
    VERIFY,
    VERIFY_REQUEST,
    login,
    register,
)
from tests.support.environment import DEFAULT_PASSWORD
from tests.support.factories import TestUser, UserFactory
from tests.support.mail import link_token, mails_to, outbox
from tests.support.rows import user_row

NEW_PASSWORD = "a brand new passphrase"


async def forgot(app: FastAPI, client: AsyncClient, email: str) -> str:
    """Ask for a reset link for `email`; the token of the newest mail to it."""
    assert (await client.post(PASSWORD_FORGOT, json={"email": email})).status_code == 202
    return link_token(mails_to(app, email, "Reset")[-1], "/reset-password")


async def change_email(client: AsyncClient, user: TestUser, email: str) -> None:
    response = await client.patch(
        ME, json={"email": email, "current_password": DEFAULT_PASSWORD}, headers=user.headers
    )
    assert response.status_code == 200, response.text


async def reset(client: AsyncClient, token: str) -> int:
    body = {"token": token, "new_password": NEW_PASSWORD}
    return (await client.post(PASSWORD_RESET, json=body)).status_code


async def test_a_reset_link_mailed_to_the_old_address_dies_with_the_change(
    app: FastAPI, client: AsyncClient, customer: TestUser
) -> None:
    token = await forgot(app, client, customer.email)
    await change_email(client, customer, "new@example.com")

    response = await client.post(PASSWORD_RESET, json={"token": token, "new_password": "x" * 12})

    assert_error(response, 400, "INVALID_TOKEN")
    stored = await user_row(app, customer.id)
    assert stored.is_verified is False  # the new address was never proven
    login_response = await client.post(
        LOGIN, json={"email": "new@example.com", "password": DEFAULT_PASSWORD}
    )
    assert login_response.status_code == 200  # the password did not change


async def test_links_stay_void_when_the_address_changes_back(
    app: FastAPI, client: AsyncClient, customer: TestUser
) -> None:
    old_address = customer.email
    token = await forgot(app, client, old_address)
    await change_email(client, customer, "elsewhere@example.com")
    await change_email(client, customer, old_address)

    assert await reset(client, token) == 400


async def test_a_reset_through_the_current_address_proves_it(
    app: FastAPI, client: AsyncClient, make_user: UserFactory
) -> None:
    user = await make_user("unproven@example.com", is_verified=False)

    assert await reset(client, await forgot(app, client, user.email)) == 204
    assert (await user_row(app, user.id)).is_verified is True


async def test_a_password_change_voids_outstanding_reset_links(
    app: FastAPI, client: AsyncClient, customer: TestUser
) -> None:
    token = await forgot(app, client, customer.email)
    session = await login(client, customer.email)

    changed = await client.post(
        PASSWORD_CHANGE,
        json={"current_password": DEFAULT_PASSWORD, "new_password": NEW_PASSWORD},
        headers=session.headers,
    )

    assert changed.status_code == 204
    assert await reset(client, token) == 400


async def test_the_old_address_is_told_of_an_email_change(
    app: FastAPI, client: AsyncClient, customer: TestUser
) -> None:
    await change_email(client, customer, "new@example.com")

    [notice] = mails_to(app, customer.email, "e-mail address was changed")
    assert "new@example.com" in notice.text
    assert "Casey Customer" in notice.text  # a proven address is greeted by name
    assert mails_to(app, "new@example.com", "e-mail address was changed") == []


async def test_verification_mails_carry_no_text_the_registrant_chose(
    app: FastAPI, client: AsyncClient
) -> None:
    spam = "Win a prize at spam.example"
    response = await register(client, "victim@example.com", full_name=spam)
    assert response.status_code == 201
    session = await login(client, "victim@example.com")
    assert (await client.post(VERIFY_REQUEST, headers=session.headers)).status_code == 202
    await forgot(app, client, "victim@example.com")

    mails = outbox(app)
    assert len(mails) == 3
    assert all(spam not in mail.text and spam not in mail.subject for mail in mails)
    # The link still works: the address is proven through it.
    token = link_token(mails_to(app, "victim@example.com", "Confirm")[-1], "/verify-email")
    assert (await client.post(VERIFY, json={"token": token})).status_code == 200
