"""Rate limits on sign-in, registration and token creation: 429 in the error shape with
Retry-After, counted in memory or in Redis (where every API process shares one count)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import pytest
from starlette.types import ASGIApp

from darvaza.db import Database
from darvaza.security.ratelimit import RateLimiter, rule
from tests.support.world import Api, admin_token, make_app, password, person


@pytest.fixture
def limited(
    db: Database,
    database_url: str,
    rate_limit_store: dict[str, str],
    serve: Callable[[ASGIApp], str],
) -> Iterator[Callable[..., Api]]:
    """`limited(**limits)` serves the app with those limits on this test's store."""
    made: list[Api] = []

    def start(**limits: str) -> Api:
        api = Api(serve(make_app(database_url, **rate_limit_store, **limits)), db)
        made.append(api)
        return api

    yield start
    for api in made:
        api.close()


def _assert_429(response: object) -> None:
    assert response.status_code == 429, response.text  # type: ignore[attr-defined]
    body = response.json()  # type: ignore[attr-defined]
    assert body["error"]["code"] == "rate_limited"
    retry_after = int(response.headers["retry-after"])  # type: ignore[attr-defined]
    assert 1 <= retry_after <= 60


def test_login_is_limited_per_address(limited: Callable[..., Api]) -> None:
    api = limited(rate_limit_login_per_ip="3/minute")
    who = person(api.db)
    body = {"email": who.email, "password": "wrong-password-1"}
    for _ in range(3):
        assert api.call("POST", "/api/v1/auth/login", json=body).status_code == 401
    _assert_429(api.call("POST", "/api/v1/auth/login", json=body))
    # Even the right password waits: the limit is on attempts from the address.
    right = {"email": who.email, "password": who.password}
    _assert_429(api.call("POST", "/api/v1/auth/login", json=right))


def _login_from(api: Api, ip: str, email: str, secret: str) -> httpx.Response:
    return api.call(
        "POST",
        "/api/v1/auth/login",
        json={"email": email, "password": secret},
        headers={"X-Forwarded-For": ip},  # the test server trusts its loopback proxy
    )


def test_login_failures_lock_an_email_for_the_guessing_addresses(
    limited: Callable[..., Api],
) -> None:
    api = limited(rate_limit_login_per_email="2/minute")
    target, bystander = person(api.db), person(api.db)
    for _ in range(2):
        assert _login_from(api, "203.0.113.1", target.email, "x" * 12).status_code == 401
    # The guessing address is refused, whatever the spelling and even with the password.
    _assert_429(_login_from(api, "203.0.113.1", target.email.upper(), "x" * 12))
    _assert_429(_login_from(api, "203.0.113.1", target.email, target.password))
    # Another guessing address gets one failure before it is refused too.
    assert _login_from(api, "203.0.113.2", target.email, "x" * 12).status_code == 401
    _assert_429(_login_from(api, "203.0.113.2", target.email, "x" * 12))
    # The owner, from an address that has not failed, still signs in; others are unaffected.
    assert _login_from(api, "198.51.100.7", target.email, target.password).status_code == 200
    assert api.login(bystander)


def test_successful_sign_ins_do_not_count_against_the_email(
    limited: Callable[..., Api],
) -> None:
    api = limited(rate_limit_login_per_email="2/minute")
    who = person(api.db)
    for _ in range(5):
        assert _login_from(api, "203.0.113.3", who.email, who.password).status_code == 200


# One address, many spellings: case, full-width letters, a decomposed accent, an IDNA
# domain, spaces around it. Each must count against the same account.
SPELLINGS = [
    "Jose\u0301@Example.com",
    "jos\u00e9@example.com",
    "JOS\u00c9@EXAMPLE.COM",
    " jos\u00e9@example.com ",
    "jos\u00e9@\uff45\uff58\uff41\uff4d\uff50\uff4c\uff45.com",
    "\uff4a\uff4f\uff53\u00e9@example.com",
    "\uff2a\uff2f\uff33\u00c9@\uff25\uff38\uff21\uff2d\uff30\uff2c\uff25.\uff23\uff2f\uff2d",
    "jose\u0301@EXAMPLE.com",
]


def test_every_spelling_of_an_address_counts_as_one(limited: Callable[..., Api]) -> None:
    api = limited(rate_limit_login_per_email="5/minute")
    owner = person(api.db, email="jos\u00e9@example.com")
    answers = [
        _login_from(api, "203.0.113.9", SPELLINGS[i % len(SPELLINGS)], "x" * 12).status_code
        for i in range(25)
    ]
    assert answers[:5] == [401] * 5
    assert set(answers[5:]) == {429}
    # Every spelling finds the one account.
    for i, spelling in enumerate(SPELLINGS):
        assert _login_from(api, f"198.51.100.{i + 1}", spelling, owner.password).status_code == 200


def test_registration_is_limited_per_address(limited: Callable[..., Api]) -> None:
    api = limited(rate_limit_register_per_ip="2/minute")
    for i in range(2):
        made = api.call(
            "POST",
            "/api/v1/auth/register",
            json={"email": f"r{i}@example.com", "password": password()},
        )
        assert made.status_code == 202
    _assert_429(
        api.call(
            "POST",
            "/api/v1/auth/register",
            json={"email": "r9@example.com", "password": password()},
        )
    )


def test_token_creation_is_limited_per_admin(limited: Callable[..., Api]) -> None:
    api = limited(rate_limit_token_create_per_user="2/minute")
    token = admin_token(api.db)
    from darvaza.security.roles import PlatformRole

    auditor = person(api.db, PlatformRole.AUDITOR)
    for i in range(2):
        made = api.call(
            "POST",
            "/api/v1/admin/api-tokens",
            token=token,
            json={"email": auditor.email, "name": f"t{i}"},
        )
        assert made.status_code == 201
    _assert_429(
        api.call(
            "POST",
            "/api/v1/admin/api-tokens",
            token=token,
            json={"email": auditor.email, "name": "t9"},
        )
    )


def test_processes_share_one_count_only_in_redis(
    limited: Callable[..., Api], rate_limit_store: dict[str, str]
) -> None:
    """Two API processes (two servers, each its own limiter): Redis makes them one."""
    first = limited(rate_limit_login_per_ip="3/minute")
    second = limited(rate_limit_login_per_ip="3/minute")
    body = {"email": "ghost@example.com", "password": "wrong-password-1"}
    for _ in range(3):
        assert first.call("POST", "/api/v1/auth/login", json=body).status_code == 401
    answer = second.call("POST", "/api/v1/auth/login", json=body)
    if rate_limit_store:  # redis
        _assert_429(answer)
    else:
        assert answer.status_code == 401


def test_a_redis_outage_lets_requests_through() -> None:
    limiter = RateLimiter("redis://127.0.0.1:1/0", key_prefix="nowhere")
    login = rule("login_ip", "1/minute")
    limiter.hit(login, "203.0.113.9")
    limiter.hit(login, "203.0.113.9")  # over the limit, but the store is down: allowed
    assert limiter.ping() is False


def test_gateway_callbacks_are_limited_per_address(limited: Callable[..., Api]) -> None:
    api = limited(rate_limit_callback_per_ip="3/minute")
    junk = {"status": "10", "id": "x", "order_id": "dz-none"}
    for _ in range(3):
        assert api.call("POST", "/api/v1/payments/callback/mock", data=junk).status_code == 303
    _assert_429(api.call("GET", "/api/v1/payments/callback/mock", params=junk))


def test_checkout_is_limited_per_customer_and_per_address(limited: Callable[..., Api]) -> None:
    api = limited(rate_limit_checkout_per_user="2/minute", rate_limit_checkout_per_ip="3/minute")
    token = admin_token(api.db)
    owner = person(api.db)
    body = {"slug": "acme", "name": "Acme", "owner_email": owner.email}
    assert api.call("POST", "/api/v1/admin/tenants", token=token, json=body).status_code == 201
    plan = {"code": "gold", "name": "Gold", "price_rials": 150_000, "period_days": 30}
    made = api.call("POST", "/api/v1/tenants/acme/plans", token=api.login(owner), json=plan)
    assert made.status_code == 201

    def checkout(who: str, ip: str) -> httpx.Response:
        return api.call(
            "POST",
            "/api/v1/tenants/acme/checkout",
            token=who,
            json={"plan_code": "gold"},
            headers={"X-Forwarded-For": ip},
        )

    first, second = api.login(person(api.db)), api.login(person(api.db))
    assert checkout(first, "203.0.113.1").status_code == 201
    assert checkout(first, "203.0.113.2").status_code == 201
    _assert_429(checkout(first, "203.0.113.3"))  # the customer's limit, from any address
    assert checkout(second, "203.0.113.9").status_code == 201
    assert checkout(second, "203.0.113.9").status_code == 201
    third = api.login(person(api.db))
    assert checkout(third, "203.0.113.9").status_code == 201
    _assert_429(checkout(third, "203.0.113.9"))  # the address's limit, whoever asks


def test_anonymous_noise_is_recorded_only_up_to_a_limit(limited: Callable[..., Api]) -> None:
    from sqlalchemy import func, select

    from darvaza.audit.models import AuditEvent

    api = limited(rate_limit_anonymous_audit_per_ip="3/minute", rate_limit_login_per_ip="99/minute")
    who = person(api.db)
    for _ in range(8):
        wrong = _login_from(api, "203.0.113.50", who.email, "wrong-passphrase-typed")
        assert wrong.status_code == 401  # still refused, just not recorded each time
    junk = {"status": "10", "id": "x", "order_id": "dz-nothing-of-ours"}
    for _ in range(8):
        answer = api.call(
            "POST", "/api/v1/payments/callback/mock", data=junk,
            headers={"X-Forwarded-For": "203.0.113.51"},
        )  # fmt: skip
        assert answer.status_code == 303
    # Another address still gets its own events on record.
    assert _login_from(api, "198.51.100.50", who.email, "x" * 12).status_code == 401

    def recorded(action: str) -> int:
        with api.db.read() as session:
            return int(
                session.scalar(
                    select(func.count()).select_from(AuditEvent).where(AuditEvent.action == action)
                )
                or 0
            )

    assert recorded("auth.login.failed") == 3 + 1
    assert recorded("payment.callback_rejected") == 3
    with api.db.read() as session:
        assert "wrong-passphrase-typed" not in str(session.scalars(select(AuditEvent.data)).all())
