"""Registering, signing in and out, sessions and their lifetimes, over real HTTP."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import timedelta
from typing import Literal

import pytest
from argon2 import Parameters, PasswordHasher, extract_parameters
from sqlalchemy import select, text, update

from darvaza.clock import utcnow
from darvaza.identity.models import Credential, User
from darvaza.security.passwords import use_hasher
from tests.conftest import CHEAP_HASHER
from tests.support.world import Api, Person, error_code, password, person

REGISTER = "/api/v1/auth/register"
LOGIN = "/api/v1/auth/login"
SESSION = "/api/v1/auth/session"


def test_register_normalises_the_email_and_keeps_one_account(api: Api) -> None:
    created = api.call(
        "POST", REGISTER, json={"email": "  Reza@Example.COM ", "password": password()}
    )
    assert created.status_code == 202, created.text
    again = api.call("POST", REGISTER, json={"email": "REZA@example.com", "password": password()})
    assert (again.status_code, again.json()) == (202, created.json())  # tells nothing
    with api.db.read() as session:
        from darvaza.identity.models import User

        users = session.scalars(select(User)).all()
    assert [(u.email, u.platform_role, u.email_verified_at) for u in users] == [
        ("reza@example.com", None, None)
    ]


@pytest.mark.parametrize(
    "email",
    [
        "",
        "no-at-sign",
        "a@",
        "@example.com",
        "a b@example.com",
        "a@exa mple.com",
        "x" * 300 + "@e.com",
    ],
)
def test_malformed_emails_are_422(api: Api, email: str) -> None:
    response = api.call("POST", REGISTER, json={"email": email, "password": password()})
    assert response.status_code == 422
    assert error_code(response) in {"invalid_email", "validation_error"}


@pytest.mark.parametrize(
    ("secret", "code"),
    [
        ("", "validation_error"),
        ("short", "weak_password"),
        ("1234567890", "weak_password"),  # common
        ("qwertyuiop", "weak_password"),  # common
        ("x" * 300, "validation_error"),  # past the hashing limit, which the contract states
        ("y" * 10_000, "validation_error"),  # past the input limit
        ("someone@example.com", "weak_password"),  # the email itself
    ],
)
def test_weak_or_absurd_passwords_are_refused(api: Api, secret: str, code: str) -> None:
    response = api.call("POST", REGISTER, json={"email": "someone@example.com", "password": secret})
    assert response.status_code == 422, response.text
    assert error_code(response) == code
    assert secret[:20] not in response.text or not secret


def test_login_gives_an_opaque_token_stored_only_as_a_hash(api: Api) -> None:
    who = person(api.db)
    response = api.call("POST", LOGIN, json={"email": who.email.upper(), "password": who.password})
    assert response.status_code == 200
    body = response.json()
    token = body["token"]
    assert token.startswith("dzs_")
    assert len(token) == 4 + 43  # 32 random bytes, base64url
    with api.db.read() as session:
        stored = session.scalars(select(Credential).where(Credential.user_id == who.user.id)).one()
        everything = " ".join(
            str(value)
            for row in session.execute(text("SELECT * FROM credentials"))
            for value in row
        )
    assert stored.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in everything
    assert str(stored.id) == body["session_id"]


def test_who_am_i(api: Api) -> None:
    who = person(api.db)
    body = api.call("GET", SESSION, token=api.login(who)).json()
    assert body["user"]["email"] == who.email
    assert body["platform_role"] is None
    assert body["tenant_roles"] == []
    assert body["credential"]["kind"] == "session"


def test_a_failed_login_says_the_same_whether_or_not_the_account_exists(api: Api) -> None:
    who = person(api.db)
    wrong_password = api.call(
        "POST", LOGIN, json={"email": who.email, "password": "nope-nope-nope"}
    )
    no_account = api.call(
        "POST", LOGIN, json={"email": "ghost@example.com", "password": "nope-nope-nope"}
    )
    assert wrong_password.status_code == no_account.status_code == 401
    assert wrong_password.json()["error"]["message"] == no_account.json()["error"]["message"]
    assert error_code(wrong_password) == error_code(no_account) == "invalid_credentials"


class CountingHasher(PasswordHasher):
    """Production's argon2 cost, noting the parameters of every hash it verifies."""

    def __init__(self) -> None:
        super().__init__()
        self.verified: list[Parameters] = []

    def verify(self, hash: str | bytes, password: str | bytes) -> Literal[True]:
        self.verified.append(extract_parameters(hash if isinstance(hash, str) else hash.decode()))
        return super().verify(hash, password)


@pytest.fixture
def counting_hasher() -> Iterator[CountingHasher]:
    hasher = CountingHasher()
    use_hasher(hasher)
    yield hasher
    use_hasher(CHEAP_HASHER)


def test_a_failed_login_costs_the_same_either_way(
    api: Api, counting_hasher: CountingHasher
) -> None:
    """Counted, not timed (a loaded machine cannot fail it): a wrong password for a known
    account and any password for an unknown one each verify exactly one hash, at the same
    argon2 cost, so their time is the same by construction."""
    who = person(api.db)  # hashed at production cost, like a real account
    for email in (who.email, "ghost@example.com"):
        before = len(counting_hasher.verified)
        answer = api.call("POST", LOGIN, json={"email": email, "password": "wrong-password-1"})
        assert answer.status_code == 401
        assert len(counting_hasher.verified) == before + 1, email
    known, unknown = counting_hasher.verified[-2:]
    assert known == unknown == extract_parameters(PasswordHasher().hash("x"))


def test_production_hashes_with_argon2id_at_rfc_9106_strength() -> None:
    from argon2 import PasswordHasher

    assert PasswordHasher().hash("x").startswith("$argon2id$v=19$m=65536,t=3,p=4$")


def test_logout_ends_the_session_at_once(api: Api) -> None:
    token = api.login(person(api.db))
    assert api.call("POST", "/api/v1/auth/logout", token=token).status_code == 204
    assert api.call("GET", SESSION, token=token).status_code == 401
    assert api.call("POST", "/api/v1/auth/logout", token=token).status_code == 401


@pytest.mark.parametrize(
    "header",
    [
        "Bearer dzs_" + "A" * 43,  # forged
        "Token {token}",  # wrong scheme
        "Basic {token}",
        "Bearer",  # no token
        "Bearer {token} extra",
        "{token}",  # no scheme
        "Bearer {token}"[:-1] + "x",  # tampered last character
        "Bearer {short}",  # truncated
    ],
)
def test_bad_credentials_are_401_in_the_error_shape(api: Api, header: str) -> None:
    token = api.login(person(api.db))
    sent = header.replace("{token}", token).replace("{short}", token[:-5])
    response = api.call("GET", SESSION, headers={"Authorization": sent})
    assert response.status_code == 401
    assert error_code(response) == "unauthenticated"
    assert response.headers["www-authenticate"].startswith("Bearer")


def test_the_scheme_name_is_case_insensitive(api: Api) -> None:
    token = api.login(person(api.db))
    assert api.call("GET", SESSION, headers={"Authorization": f"bearer {token}"}).status_code == 200


def _age(api: Api, token: str, **changes: object) -> None:
    with api.db.transaction() as session:
        session.execute(
            update(Credential)
            .where(Credential.token_hash == hashlib.sha256(token.encode()).hexdigest())
            .values(**changes)
        )


def test_a_session_idle_too_long_is_refused(api: Api) -> None:
    token = api.login(person(api.db))
    _age(api, token, last_used_at=utcnow() - timedelta(minutes=719))
    assert api.call("GET", SESSION, token=token).status_code == 200  # and that use refreshes it
    _age(api, token, last_used_at=utcnow() - timedelta(minutes=721))
    assert api.call("GET", SESSION, token=token).status_code == 401


def test_using_a_session_moves_its_idle_deadline(api: Api) -> None:
    token = api.login(person(api.db))
    _age(api, token, last_used_at=utcnow() - timedelta(minutes=700))
    assert api.call("GET", SESSION, token=token).status_code == 200
    with api.db.read() as session:
        credential = session.scalars(select(Credential)).one()
    assert utcnow() - credential.last_used_at < timedelta(minutes=1)


def test_a_session_past_its_absolute_lifetime_is_refused(api: Api) -> None:
    token = api.login(person(api.db))
    _age(api, token, expires_at=utcnow() - timedelta(seconds=1))
    assert api.call("GET", SESSION, token=token).status_code == 401


def test_sessions_can_be_listed_and_revoked_one_or_all_others(api: Api) -> None:
    who = person(api.db)
    current, second, third = api.login(who), api.login(who), api.login(who)
    listed = api.call("GET", "/api/v1/auth/sessions", token=current).json()
    assert len(listed) == 3
    assert [s["current"] for s in listed].count(True) == 1
    second_id = next(
        s["id"]
        for s in api.call("GET", "/api/v1/auth/sessions", token=second).json()
        if s["current"]
    )
    assert (
        api.call("DELETE", f"/api/v1/auth/sessions/{second_id}", token=current).status_code == 204
    )
    assert api.call("GET", SESSION, token=second).status_code == 401
    revoked = api.call("POST", "/api/v1/auth/sessions/revoke-others", token=current)
    assert revoked.json() == {"revoked": 1}
    assert api.call("GET", SESSION, token=third).status_code == 401
    assert api.call("GET", SESSION, token=current).status_code == 200


def test_another_users_session_id_is_unknown(api: Api) -> None:
    mine, theirs = api.login(person(api.db)), api.login(person(api.db))
    their_id = api.call("GET", "/api/v1/auth/sessions", token=theirs).json()[0]["id"]
    response = api.call("DELETE", f"/api/v1/auth/sessions/{their_id}", token=mine)
    assert response.status_code == 404
    assert api.call("GET", SESSION, token=theirs).status_code == 200
    bad = api.call("DELETE", "/api/v1/auth/sessions/not-a-uuid", token=mine)
    assert bad.status_code == 404  # no session could have such an id


def test_a_password_change_ends_every_other_session(api: Api) -> None:
    who = person(api.db)
    current, other = api.login(who), api.login(who)
    wrong = api.call(
        "POST", "/api/v1/auth/password", token=current,
        json={"current_password": "not-it-at-all", "new_password": password()},
    )  # fmt: skip
    assert wrong.status_code == 401
    new_password = password()
    changed = api.call(
        "POST", "/api/v1/auth/password", token=current,
        json={"current_password": who.password, "new_password": new_password},
    )  # fmt: skip
    assert changed.status_code == 200
    assert changed.json() == {"revoked": 1}
    assert api.call("GET", SESSION, token=other).status_code == 401
    assert api.call("GET", SESSION, token=current).status_code == 200
    old = api.call("POST", LOGIN, json={"email": who.email, "password": who.password})
    assert old.status_code == 401
    assert api.login(Person(who.user, new_password))


def test_users_table_never_holds_a_plain_password(api: Api) -> None:
    who = person(api.db)
    with api.db.read() as session:
        stored = session.get(User, who.user.id)
    assert stored is not None
    assert who.password not in stored.password_hash
    assert stored.password_hash.startswith("$argon2id$")
