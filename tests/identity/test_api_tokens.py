"""Staff API tokens and the account commands: created once, stored hashed, refused the
moment they are revoked or expire."""

from __future__ import annotations

import contextlib
import hashlib
import os
import subprocess
import sys
import threading
from datetime import datetime, timedelta

from sqlalchemy import event, select, update
from typer.testing import CliRunner

from darvaza.cli import app as cli
from darvaza.clock import utcnow
from darvaza.db import Database
from darvaza.errors import Conflict
from darvaza.identity.accounts import set_platform_role
from darvaza.identity.models import Credential, User
from darvaza.security.roles import PlatformRole
from tests.support.world import SYSTEM, Api, Person, admin_token, error_code, password, person

runner = CliRunner()
ADMIN_PASSWORD = "correct-horse-battery-staple"


def _env(api: Api, **extra: str) -> dict[str, str]:
    return {"DARVAZA_DATABASE_URL": api.db.url.render_as_string(hide_password=False), **extra}


def test_bootstrap_the_first_admin_and_a_token_from_the_cli(api: Api) -> None:
    created = runner.invoke(
        cli,
        ["users", "create", "--email", "Boss@Example.com", "--role", "platform_admin"],
        env=_env(api, DARVAZA_PASSWORD=ADMIN_PASSWORD),
    )
    assert created.exit_code == 0, created.output
    made = runner.invoke(
        cli,
        ["tokens", "create", "--email", "boss@example.com", "--name", "ops"],
        env=_env(api),
    )
    assert made.exit_code == 0, made.output
    token = made.stdout.strip().splitlines()[-1]
    assert token.startswith("dzt_")
    with api.db.read() as session:
        stored = session.scalars(select(Credential).where(Credential.kind == "api_token")).one()
    assert stored.token_hash == hashlib.sha256(token.encode()).hexdigest()
    # No expiry asked for: DARVAZA_API_TOKEN_MAX_DAYS (90) applies.
    assert stored.expires_at is not None
    assert timedelta(days=89) < stored.expires_at - utcnow() <= timedelta(days=90)

    who = api.call("GET", "/api/v1/auth/session", token=token).json()
    assert who["platform_role"] == "platform_admin"
    assert who["credential"]["kind"] == "api_token"

    listed = runner.invoke(cli, ["tokens", "list"], env=_env(api))
    assert str(stored.id) in listed.output
    assert token not in listed.output

    revoked = runner.invoke(cli, ["tokens", "revoke", str(stored.id)], env=_env(api))
    assert revoked.exit_code == 0, revoked.output
    assert api.call("GET", "/api/v1/auth/session", token=token).status_code == 401


def test_users_create_never_takes_the_password_as_an_argument(api: Api) -> None:
    help_text = runner.invoke(cli, ["users", "create", "--help"]).output
    assert "--password" not in help_text
    env = {k: v for k, v in os.environ.items() if not k.startswith("DARVAZA_")}
    env.update(_env(api))
    result = subprocess.run(
        [sys.executable, "-m", "darvaza.cli", "users", "create", "--email", "a@example.com"],
        env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 1
    assert "DARVAZA_PASSWORD" in result.stderr


def test_users_create_refuses_a_weak_password_and_an_unknown_role(api: Api) -> None:
    weak = runner.invoke(
        cli, ["users", "create", "--email", "a@example.com"], env=_env(api, DARVAZA_PASSWORD="123")
    )
    assert weak.exit_code == 1
    assert "at least 10 characters" in weak.output
    unknown = runner.invoke(
        cli,
        ["users", "create", "--email", "a@example.com", "--role", "superuser"],
        env=_env(api, DARVAZA_PASSWORD=ADMIN_PASSWORD),
    )
    assert unknown.exit_code == 2


def test_api_tokens_through_the_api(api: Api) -> None:
    admin = admin_token(api.db)
    auditor = person(api.db, PlatformRole.AUDITOR)
    made = api.call(
        "POST", "/api/v1/admin/api-tokens", token=admin,
        json={"email": auditor.email, "name": "reports", "expires_in_days": 30},
    )  # fmt: skip
    assert made.status_code == 201, made.text
    body = made.json()
    token = body.pop("token")
    assert body["user_email"] == auditor.email
    assert api.call("GET", "/api/v1/admin/audit", token=token).status_code == 200
    listed = api.call("GET", "/api/v1/admin/api-tokens", token=admin).json()
    assert body["id"] in {t["id"] for t in listed}
    assert token not in str(listed)
    assert (
        api.call("DELETE", f"/api/v1/admin/api-tokens/{body['id']}", token=admin).status_code == 204
    )
    assert api.call("GET", "/api/v1/admin/audit", token=token).status_code == 401
    unknown = api.call("DELETE", f"/api/v1/admin/api-tokens/{auditor.user.id}", token=admin)
    assert unknown.status_code == 404


def test_api_tokens_expire_by_default_and_never_past_the_maximum(api: Api) -> None:
    admin = admin_token(api.db)
    auditor = person(api.db, PlatformRole.AUDITOR)
    made = api.call(
        "POST", "/api/v1/admin/api-tokens", token=admin,
        json={"email": auditor.email, "name": "no expiry asked"},
    )  # fmt: skip
    assert made.status_code == 201, made.text
    expires_at = datetime.fromisoformat(made.json()["expires_at"])
    assert timedelta(days=89) < expires_at - utcnow() <= timedelta(days=90)
    too_long = api.call(
        "POST", "/api/v1/admin/api-tokens", token=admin,
        json={"email": auditor.email, "name": "forever", "expires_in_days": 91},
    )  # fmt: skip
    assert (too_long.status_code, error_code(too_long)) == (422, "invalid_expiry")


def test_only_staff_get_api_tokens(api: Api) -> None:
    customer = person(api.db)
    response = api.call(
        "POST", "/api/v1/admin/api-tokens", token=admin_token(api.db),
        json={"email": customer.email, "name": "nope"},
    )  # fmt: skip
    assert response.status_code == 422
    assert error_code(response) == "not_staff"


def test_an_expired_api_token_is_refused(api: Api) -> None:
    token = admin_token(api.db)
    with api.db.transaction() as session:
        session.execute(
            update(Credential)
            .where(Credential.token_hash == hashlib.sha256(token.encode()).hexdigest())
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    assert api.call("GET", "/api/v1/auth/session", token=token).status_code == 401


def test_losing_the_platform_role_ends_sessions_and_tokens(api: Api) -> None:
    admin = admin_token(api.db)
    support = person(api.db, PlatformRole.SUPPORT_ADMIN)
    session_token = api.login(support)
    made = api.call(
        "POST", "/api/v1/admin/api-tokens", token=admin, json={"email": support.email, "name": "x"}
    ).json()["token"]
    changed = api.call(
        "PUT",
        f"/api/v1/admin/users/{support.user.id}/platform-role",
        token=admin,
        json={"role": None},
    )
    assert changed.status_code == 200
    assert changed.json()["platform_role"] is None
    assert api.call("GET", "/api/v1/auth/session", token=session_token).status_code == 401
    assert api.call("GET", "/api/v1/auth/session", token=made).status_code == 401


def test_a_role_change_ends_sessions_but_keeps_tokens(api: Api) -> None:
    admin = admin_token(api.db)
    auditor = person(api.db, PlatformRole.AUDITOR)
    session_token = api.login(auditor)
    made = api.call(
        "POST", "/api/v1/admin/api-tokens", token=admin, json={"email": auditor.email, "name": "x"}
    ).json()["token"]
    api.call(
        "PUT", f"/api/v1/admin/users/{auditor.user.id}/platform-role", token=admin,
        json={"role": "support_admin"},
    )  # fmt: skip
    assert api.call("GET", "/api/v1/auth/session", token=session_token).status_code == 401
    who = api.call("GET", "/api/v1/auth/session", token=made).json()
    assert who["platform_role"] == "support_admin"  # roles are read fresh on every request


def test_the_last_platform_admin_cannot_be_demoted(api: Api) -> None:
    token = admin_token(api.db)
    with api.db.read() as session:
        admin = session.scalars(select(User).where(User.platform_role == "platform_admin")).one()
    refused = api.call(
        "PUT",
        f"/api/v1/admin/users/{admin.id}/platform-role",
        token=token,
        json={"role": "auditor"},
    )
    assert refused.status_code == 409
    assert error_code(refused) == "last_platform_admin"


def test_unknown_roles_are_422(api: Api) -> None:
    token = admin_token(api.db)
    who = person(api.db)
    response = api.call(
        "PUT", f"/api/v1/admin/users/{who.user.id}/platform-role", token=token, json={"role": "god"}
    )
    assert response.status_code == 422
    created = api.call(
        "POST", "/api/v1/admin/users", token=token,
        json={"email": "x@example.com", "password": password(), "platform_role": "owner"},
    )  # fmt: skip
    assert created.status_code == 422


def test_two_admins_demoting_each_other_at_once_leave_one(db: Database) -> None:
    """Each transaction pauses right after it looked at the set of admins, so without a
    lock on the whole set both would see two admins and both demotions would land."""
    first = person(db, PlatformRole.PLATFORM_ADMIN)
    second = person(db, PlatformRole.PLATFORM_ADMIN)
    racers: set[int] = set()
    barrier = threading.Barrier(2, timeout=3)

    def pause_after_looking(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        if threading.get_ident() in racers and "WHERE users.platform_role =" in statement:
            with contextlib.suppress(threading.BrokenBarrierError):
                barrier.wait()  # the other one is blocked on our lock: go on alone

    outcomes: dict[str, str] = {}

    def demote(name: str, target: Person) -> None:
        racers.add(threading.get_ident())
        try:
            set_platform_role(db, SYSTEM, user_id=target.user.id, role=PlatformRole.AUDITOR)
            outcomes[name] = "demoted"
        except Conflict as exc:
            outcomes[name] = exc.code

    event.listen(db.engine, "after_cursor_execute", pause_after_looking)
    try:
        threads = [
            threading.Thread(target=demote, args=("first", second)),
            threading.Thread(target=demote, args=("second", first)),
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
    finally:
        event.remove(db.engine, "after_cursor_execute", pause_after_looking)
    assert sorted(outcomes.values()) == ["demoted", "last_platform_admin"]
    with db.read() as session:
        left = session.scalars(
            select(User.id).where(User.platform_role == PlatformRole.PLATFORM_ADMIN.value)
        ).all()
    assert len(left) == 1
