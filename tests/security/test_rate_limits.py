"""Rate limits on sign-in, registration and token creation: 429 in the error shape with
Retry-After, counted in memory or in Redis (where every API process shares one count)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

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


def test_login_is_limited_per_email(limited: Callable[..., Api]) -> None:
    api = limited(rate_limit_login_per_email="2/minute")
    target, bystander = person(api.db), person(api.db)
    for _ in range(2):
        api.call("POST", "/api/v1/auth/login", json={"email": target.email, "password": "x" * 12})
    _assert_429(
        api.call(
            "POST", "/api/v1/auth/login", json={"email": target.email.upper(), "password": "x" * 12}
        )
    )
    assert api.login(bystander)


def test_registration_is_limited_per_address(limited: Callable[..., Api]) -> None:
    api = limited(rate_limit_register_per_ip="2/minute")
    for i in range(2):
        made = api.call(
            "POST",
            "/api/v1/auth/register",
            json={"email": f"r{i}@example.com", "password": password()},
        )
        assert made.status_code == 201
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
