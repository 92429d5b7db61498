"""Building blocks for tests: people, tenants and tokens made through the real services."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from typing import Any

import httpx
from fastapi import FastAPI

from darvaza.app import create_app
from darvaza.db import Database
from darvaza.identity.accounts import create_user
from darvaza.identity.api_tokens import create_api_token
from darvaza.identity.models import User
from darvaza.security.caller import Actor
from darvaza.security.roles import PlatformRole
from tests.support.settings import make_settings

SYSTEM = Actor.system("test")
GENEROUS = {
    "rate_limit_login_per_ip": "100000/minute",
    "rate_limit_login_per_email": "100000/minute",
    "rate_limit_register_per_ip": "100000/minute",
    "rate_limit_token_create_per_user": "100000/minute",
    "rate_limit_checkout_per_user": "100000/minute",
    "rate_limit_checkout_per_ip": "100000/minute",
    "rate_limit_password_reset_per_ip": "100000/minute",
    "rate_limit_password_reset_per_email": "100000/minute",
}


def make_app(database_url: str, **overrides: object) -> FastAPI:
    """The real app, with rate limits out of the way unless a test sets its own."""
    return create_app(make_settings(database_url=database_url, **{**GENEROUS, **overrides}))


def password() -> str:
    return "pw-" + secrets.token_urlsafe(16)


@dataclass
class Person:
    user: User
    password: str

    @property
    def email(self) -> str:
        return self.user.email


def person(db: Database, role: PlatformRole | None = None, email: str | None = None) -> Person:
    secret = password()
    email = email or f"{secrets.token_hex(5)}@example.com"
    user = create_user(db, SYSTEM, email=email, password=secret, min_length=10, platform_role=role)
    return Person(user, secret)


def admin_token(db: Database) -> str:
    admin = person(db, PlatformRole.PLATFORM_ADMIN)
    made = create_api_token(
        db, SYSTEM, email=admin.email, name="tests", expires_in_days=None, max_days=90
    )
    return made.token


class Api:
    """A live app on a real server, and the calls tests make to it."""

    def __init__(self, url: str, db: Database) -> None:
        self.url = url
        self.db = db
        # Pages answer in English for these tests; the console's own tests choose others.
        self.http = httpx.Client(
            base_url=url, timeout=30, follow_redirects=False, headers={"Accept-Language": "en"}
        )

    def call(
        self, method: str, path: str, token: str | None = None, **kwargs: Any
    ) -> httpx.Response:
        headers = dict(kwargs.pop("headers", None) or {})
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        self.http.cookies.clear()  # only the cookies this call names
        for name, value in (kwargs.pop("cookies", None) or {}).items():
            self.http.cookies.set(name, value)
        return self.http.request(method, path, headers=headers, **kwargs)

    def login(self, who: Person) -> str:
        response = self.call(
            "POST", "/api/v1/auth/login", json={"email": who.email, "password": who.password}
        )
        assert response.status_code == 200, response.text
        return str(response.json()["token"])

    def close(self) -> None:
        self.http.close()


def error_code(response: httpx.Response) -> str:
    return str(response.json()["error"]["code"])


_HIDDEN_FIELD = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)"')


def return_fields(page: httpx.Response) -> dict[str, str]:
    """What the mock gateway's return page posts back to the callback, as a browser would."""
    return dict(_HIDDEN_FIELD.findall(page.text))


def gateway_path(api: Api, redirect_url: str) -> str:
    """Follow a checkout's go link as the payer's browser would: the gateway page's path
    (the mock gateway's page, served by the app itself)."""
    go = api.call("GET", redirect_url.split("127.0.0.1:4000", 1)[1])
    assert go.status_code == 303, go.text
    return go.headers["location"].split("127.0.0.1:4000", 1)[1]
