"""The contract's rate limits on the real routes: register and refresh per IP, the default
budget per IP across routes, every password check in the login budgets (per IP and per
account), and mails per account."""

from __future__ import annotations

import uuid

from tests.support.assertions import assert_error
from tests.support.clients import (
    LOGIN,
    ME,
    PASSWORD_CHANGE,
    PASSWORD_FORGOT,
    REFRESH,
    VERIFY_REQUEST,
    login,
    make_client,
    register,
)
from tests.support.environment import DEFAULT_PASSWORD
from tests.support.factories import AppFactory, UserFactory
from tests.support.mail import mails_to, outbox

WRONG = "not the password at all"


async def test_register_is_limited_per_ip(make_app_with: AppFactory) -> None:
    app = await make_app_with(rate_limit_register="2/minute")
    async with make_client(app) as http:
        created = [(await register(http, f"r{n}@example.com")).status_code for n in range(2)]
        limited = await register(http, "r2@example.com")
    async with make_client(app, client_ip="198.51.100.40") as elsewhere:
        other_ip = await register(elsewhere, "r3@example.com")

    assert created == [201, 201]
    assert_error(limited, 429, "RATE_LIMITED")
    assert int(limited.headers["retry-after"]) >= 1
    assert other_ip.status_code == 201


async def test_refresh_is_limited_per_ip(make_app_with: AppFactory, make_user: UserFactory) -> None:
    app = await make_app_with(rate_limit_refresh="2/minute")
    user = await make_user()
    async with make_client(app) as http:
        session = await login(http, user.email)
        first = await http.post(REFRESH, json={"refresh_token": session.refresh_token})
        second = await http.post(REFRESH, json={"refresh_token": first.json()["refresh_token"]})
        limited = await http.post(REFRESH, json={"refresh_token": second.json()["refresh_token"]})

    assert (first.status_code, second.status_code) == (200, 200)
    assert_error(limited, 429, "RATE_LIMITED")


async def test_the_default_budget_is_shared_by_every_route_of_an_ip(
    make_app_with: AppFactory, make_user: UserFactory
) -> None:
    app = await make_app_with(rate_limit_default="3/minute")
    user = await make_user()
    async with make_client(app) as http:
        answered = [
            (await http.get("/api/v1/products")).status_code,
            (await http.get(ME, headers=user.headers)).status_code,
            (await http.get("/api/v1/orders", headers=user.headers)).status_code,
        ]
        limited = await http.get("/api/v1/products")
    async with make_client(app, client_ip="198.51.100.41") as elsewhere:
        other_ip = await elsewhere.get("/api/v1/products")

    assert answered == [200, 200, 200]
    assert_error(limited, 429, "RATE_LIMITED")
    assert other_ip.status_code == 200


async def test_current_password_checks_count_in_the_accounts_login_budget(
    make_app_with: AppFactory, make_user: UserFactory
) -> None:
    app = await make_app_with(rate_limit_login="3/minute")
    user = await make_user()
    # Three guesses of the current password, from three addresses...
    for number, (method, path, body) in enumerate(
        [
            ("POST", PASSWORD_CHANGE, {"current_password": WRONG, "new_password": "x" * 12}),
            ("PATCH", ME, {"email": "new@example.com", "current_password": WRONG}),
            ("DELETE", ME, {"current_password": WRONG}),
        ]
    ):
        async with make_client(app, client_ip=f"198.51.100.{50 + number}") as guesser:
            response = await guesser.request(method, path, json=body, headers=user.headers)
            assert_error(response, 403, "WRONG_PASSWORD")

    # ...use up the account's login budget: even the right password from a fourth is refused.
    async with make_client(app, client_ip="198.51.100.60") as owner:
        limited = await owner.post(LOGIN, json={"email": user.email, "password": DEFAULT_PASSWORD})

    assert_error(limited, 429, "RATE_LIMITED")


async def test_current_password_checks_count_in_the_ips_login_budget(
    make_app_with: AppFactory, make_user: UserFactory
) -> None:
    app = await make_app_with(rate_limit_login="3/minute")
    users = [await make_user() for _ in range(3)]
    async with make_client(app) as http:
        for user in users[:2]:
            response = await http.post(
                PASSWORD_CHANGE,
                json={"current_password": WRONG, "new_password": "x" * 12},
                headers=user.headers,
            )
            assert_error(response, 403, "WRONG_PASSWORD")
        await login(http, users[2].email)  # the third check of this IP
        limited = await http.request(
            "DELETE", ME, json={"current_password": DEFAULT_PASSWORD}, headers=users[2].headers
        )

    assert_error(limited, 429, "RATE_LIMITED")


async def test_verification_mails_are_limited_per_account(
    make_app_with: AppFactory, make_user: UserFactory
) -> None:
    app = await make_app_with(rate_limit_account_mail="2/hour")
    user = await make_user(is_verified=False)
    answers = []
    for number in range(3):  # from three addresses: the per-IP limit is not what stops it
        async with make_client(app, client_ip=f"198.51.100.{70 + number}") as http:
            answers.append(await http.post(VERIFY_REQUEST, headers=user.headers))

    assert [a.status_code for a in answers[:2]] == [202, 202]
    assert_error(answers[2], 429, "RATE_LIMITED")
    assert len(mails_to(app, user.email, "Confirm")) == 2


async def test_reset_mails_are_limited_per_address_whether_or_not_it_has_an_account(
    make_app_with: AppFactory, make_user: UserFactory
) -> None:
    app = await make_app_with(rate_limit_account_mail="2/hour")
    user = await make_user()
    nobody = f"{uuid.uuid4().hex}@example.com"
    answers: dict[str, list[int]] = {user.email: [], nobody: []}
    for number in range(3):
        async with make_client(app, client_ip=f"198.51.100.{80 + number}") as http:
            for email, statuses in answers.items():
                response = await http.post(PASSWORD_FORGOT, json={"email": email.upper()})
                statuses.append(response.status_code)

    # The same answers for both: the limit tells nothing about which address exists.
    assert answers[user.email] == answers[nobody] == [202, 202, 429]
    assert len(mails_to(app, user.email, "Reset")) == 2
    assert all(message.to == user.email for message in outbox(app))
