"""Mail and what rides on it, against a real SMTP server (aiosmtpd) and the real worker
code: password reset, address verification, registration that tells nothing, manager
invitations; mail that cannot be delivered retries and then shows as a dead job."""

from __future__ import annotations

import email
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select, update
from starlette.types import ASGIApp

from darvaza.assembly import WORK
from darvaza.audit.models import AuditEvent
from darvaza.clock import utcnow
from darvaza.db import Database
from darvaza.identity.models import Credential, OneTimeToken, User
from darvaza.jobs.models import Job
from darvaza.jobs.queue import claim
from darvaza.jobs.registry import run_claimed
from darvaza.mail import SEND_MAIL
from tests.support.jobs import parts
from tests.support.mail import Mailing
from tests.support.world import Api, admin_token, error_code, make_app, password, person


def test_a_forgotten_password_is_reset_by_mail_and_every_session_ends(mailing: Mailing) -> None:
    api = mailing.api
    who = person(api.db)
    old_session = api.login(who)
    asked = api.call("POST", "/api/v1/auth/password-reset", json={"email": who.email.upper()})
    assert asked.status_code == 202
    nobody = api.call("POST", "/api/v1/auth/password-reset", json={"email": "nobody@example.com"})
    assert (nobody.status_code, nobody.json()) == (202, asked.json())  # the same answer
    # Text that is no address at all is refused as such (it tells nothing about accounts).
    junk = api.call("POST", "/api/v1/auth/password-reset", json={"email": "000"})
    assert (junk.status_code, error_code(junk)) == (422, "invalid_email")
    token = mailing.link_token(who.email)
    assert mailing.inbox.to("nobody@example.com") == []
    message = mailing.inbox.to(who.email)[0]
    assert message["From"] == "Darvaza <members@darvaza.test>"
    assert "https://members.example.com/console/reset-password?token=" in str(
        message.get_payload(decode=True)
    )
    # The token is stored nowhere: neither in its row nor in the queued job.
    with api.db.read() as session:
        assert token not in str([(j.payload, j.last_error) for j in session.scalars(select(Job))])
        row = session.scalars(select(OneTimeToken)).one()
        assert row.token_hash != token
    new_password = password()
    done = api.call(
        "POST",
        "/api/v1/auth/password-reset/confirm",
        json={"token": token, "new_password": new_password},
    )
    assert done.status_code == 204, done.text
    assert api.call("GET", "/api/v1/auth/session", token=old_session).status_code == 401
    assert (
        api.call(
            "POST", "/api/v1/auth/login", json={"email": who.email, "password": new_password}
        ).status_code
        == 200
    )
    again = api.call(
        "POST",
        "/api/v1/auth/password-reset/confirm",
        json={"token": token, "new_password": password()},
    )
    assert (again.status_code, error_code(again)) == (410, "token_used")


def test_reset_links_expire_and_forged_ones_are_refused(mailing: Mailing) -> None:
    api = mailing.api
    who = person(api.db)
    api.call("POST", "/api/v1/auth/password-reset", json={"email": who.email})
    token = mailing.link_token(who.email)
    with api.db.transaction() as session:
        session.execute(update(OneTimeToken).values(expires_at=utcnow() - timedelta(seconds=1)))
    late = api.call(
        "POST", "/api/v1/auth/password-reset/confirm",
        json={"token": token, "new_password": password()},
    )  # fmt: skip
    assert (late.status_code, error_code(late)) == (410, "token_expired")
    # Shaped like a token but naming none: 404; not shaped like one: refused by its shape.
    tampered = token[:-1] + ("x" if token[-1] != "x" else "y")
    for forged, answer in (("dzo_" + "A" * 43, (404, "invalid_token")),
                           (tampered, (404, "invalid_token")),
                           ("nonsense", (422, "validation_error"))):  # fmt: skip
        refused = api.call(
            "POST", "/api/v1/auth/password-reset/confirm",
            json={"token": forged, "new_password": password()},
        )  # fmt: skip
        assert (refused.status_code, error_code(refused)) == answer, forged
    weak = api.call("POST", "/api/v1/auth/password-reset", json={"email": who.email})
    assert weak.status_code == 202
    fresh = mailing.link_token(who.email)
    short = api.call(
        "POST", "/api/v1/auth/password-reset/confirm",
        json={"token": fresh, "new_password": "short"},
    )  # fmt: skip
    assert (short.status_code, error_code(short)) == (422, "weak_password")
    # A refused password does not spend the link.
    assert api.call(
        "POST", "/api/v1/auth/password-reset/confirm",
        json={"token": fresh, "new_password": password()},
    ).status_code == 204  # fmt: skip


def test_password_reset_requests_are_rate_limited(
    db: Database, database_url: str, serve: Callable[[ASGIApp], str]
) -> None:
    api = Api(serve(make_app(database_url, rate_limit_password_reset_per_email="2/hour")), db)
    try:
        for _ in range(2):
            assert (
                api.call(
                    "POST", "/api/v1/auth/password-reset", json={"email": "Target@example.com"}
                ).status_code
                == 202
            )
        limited = api.call(
            "POST", "/api/v1/auth/password-reset", json={"email": "target@EXAMPLE.com"}
        )
        assert (limited.status_code, error_code(limited)) == (429, "rate_limited")
    finally:
        api.close()


def test_registration_tells_nothing_and_verification_gates_checkout(mailing: Mailing) -> None:
    api = mailing.api
    taken = person(api.db)
    secret = password()
    new = api.call(
        "POST", "/api/v1/auth/register", json={"email": "New@Example.com", "password": secret}
    )
    old = api.call("POST", "/api/v1/auth/register", json={"email": taken.email, "password": secret})
    assert (new.status_code, new.json()) == (old.status_code, old.json()) == (new.status_code, {
        "status": "accepted", "message": "Check your email to finish signing up.",
    })  # fmt: skip
    mailing.deliver()
    assert "already has one" in str(mailing.inbox.to(taken.email)[0].get_payload(decode=True))
    # The taken account's password did not change.
    assert api.login(taken)
    # The new account may sign in, but not pay until it confirms its address.
    token = api.call(
        "POST", "/api/v1/auth/login", json={"email": "new@example.com", "password": secret}
    ).json()["token"]
    owner = person(api.db)
    api.call(
        "POST", "/api/v1/admin/tenants", token=admin_token(api.db),
        json={"slug": "acme", "name": "Acme", "owner_email": owner.email},
    )  # fmt: skip
    api.call(
        "POST", "/api/v1/tenants/acme/plans", token=api.login(owner),
        json={"code": "gold", "name": "Gold", "price_rials": 150_000, "period_days": 30},
    )  # fmt: skip
    checkout = {"plan_code": "gold"}
    refused = api.call("POST", "/api/v1/tenants/acme/checkout", token=token, json=checkout)
    assert (refused.status_code, error_code(refused)) == (403, "email_not_verified")
    link = mailing.link_token("new@example.com")
    assert "/console/verify-email?token=" in str(
        mailing.inbox.to("new@example.com")[0].get_payload(decode=True)
    )
    assert api.call("POST", "/api/v1/auth/verify-email", json={"token": link}).status_code == 204
    paid = api.call("POST", "/api/v1/tenants/acme/checkout", token=token, json=checkout)
    assert paid.status_code == 201, paid.text
    resent = api.call("POST", "/api/v1/auth/verify-email/resend", token=token)
    assert resent.json()["message"] == "Your address is confirmed already."


def test_an_owner_invites_a_manager_who_must_accept(mailing: Mailing) -> None:
    api = mailing.api
    owner, invitee, bystander = person(api.db), person(api.db), person(api.db)
    api.call(
        "POST", "/api/v1/admin/tenants", token=admin_token(api.db),
        json={"slug": "acme", "name": "Acme", "owner_email": owner.email},
    )  # fmt: skip
    owner_token = api.login(owner)
    invitee_session = api.login(invitee)
    answers = [
        api.call("POST", "/api/v1/tenants/acme/managers", token=owner_token, json={"email": e})
        for e in (invitee.email, "nobody@example.com")
    ]
    assert {(a.status_code, a.text) for a in answers} == {(answers[0].status_code, answers[0].text)}
    assert answers[0].status_code == 202
    members = api.call("GET", "/api/v1/tenants/acme/members", token=owner_token).json()
    assert [m["email"] for m in members] == [owner.email]  # nobody captured
    token = mailing.link_token(invitee.email)
    # Someone else cannot use the invitation, and trying does not spend it.
    stolen = api.call(
        "POST", "/api/v1/invitations/accept", token=api.login(bystander), json={"token": token}
    )
    assert (stolen.status_code, error_code(stolen)) == (403, "invitation_for_someone_else")
    accepted = api.call(
        "POST", "/api/v1/invitations/accept", token=invitee_session, json={"token": token}
    )
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["role"] == "manager"
    # Removing them ends their rights here, not their sessions.
    removed = api.call(
        "DELETE", f"/api/v1/tenants/acme/managers/{invitee.user.id}", token=owner_token
    )
    assert removed.status_code == 204
    assert api.call("GET", "/api/v1/auth/session", token=invitee_session).status_code == 200
    assert api.call("GET", "/api/v1/tenants/acme/members", token=invitee_session).status_code == 403
    with api.db.read() as session:
        revoked = session.scalars(
            select(Credential).where(
                Credential.user_id == invitee.user.id, Credential.revoked_at.is_not(None)
            )
        ).all()
        assert revoked == []
        actions = session.scalars(select(AuditEvent.action)).all()
    assert "tenant.manager_invited" in actions
    assert "tenant.member_added" in actions


def test_undeliverable_mail_retries_then_is_a_dead_job(mailing: Mailing) -> None:
    api = mailing.api
    who = person(api.db)
    mailing.inbox.refuse = True
    api.call("POST", "/api/v1/auth/password-reset", json={"email": who.email})
    for _ in range(10):
        mailing.deliver()
        with api.db.transaction() as session:  # retries are due at once in this test
            session.execute(update(Job).values(run_at=utcnow() - timedelta(seconds=1)))
    with api.db.read() as session:
        job = session.scalars(select(Job).where(Job.kind == SEND_MAIL)).one()
    assert job.state == "dead"
    assert job.attempts == 8
    assert "451" in (job.last_error or "")
    assert mailing.inbox.messages == []


def test_local_writes_mail_to_files(db: Database, database_url: str, tmp_path: Path) -> None:
    made = parts(db, database_url=database_url, mail_dir=str(tmp_path / "mail"))
    from darvaza.identity.accounts import MailedTokens, request_password_reset
    from darvaza.identity.one_time import Links

    who = person(db)
    links = Links(made.settings.effective_secret_key, "http://127.0.0.1:4000")
    mailed = MailedTokens(links, timedelta(hours=1), timedelta(minutes=30))
    request_password_reset(db, email=who.email, mailed=mailed)
    for job in claim(db, "test", now=utcnow()):
        run_claimed(made, WORK.registry, job)
    files = list((tmp_path / "mail").glob("*.eml"))
    assert len(files) == 1
    parsed = email.message_from_bytes(files[0].read_bytes())
    assert parsed["To"] == who.email
    with db.read() as session:
        assert session.scalars(select(User).where(User.id == who.user.id)).one()


def test_sign_ups_cannot_flood_an_inbox(
    db: Database, database_url: str, serve: Callable[[ASGIApp], str]
) -> None:
    api = Api(serve(make_app(database_url, rate_limit_password_reset_per_email="2/hour")), db)
    try:
        taken = person(db)
        answers = [
            api.call("POST", "/api/v1/auth/register",
                     json={"email": taken.email.upper(), "password": password()}).status_code
            for _ in range(3)
        ]  # fmt: skip
        assert answers == [202, 202, 429]
        # The same for an address nobody has: the limit tells nothing either.
        fresh = [
            api.call("POST", "/api/v1/auth/register",
                     json={"email": "fresh@example.com", "password": password()}).status_code
            for _ in range(3)
        ]  # fmt: skip
        assert fresh == [202, 202, 429]
    finally:
        api.close()
