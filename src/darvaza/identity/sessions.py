"""Signing in and out, and recognising a bearer token on every request."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import delete, or_, select

from darvaza.audit.service import append_event
from darvaza.clock import utcnow
from darvaza.db import Database, changed_rows
from darvaza.errors import N_, NotFound, Unauthenticated
from darvaza.identity.accounts import email_key, find_user_by_email
from darvaza.identity.credentials import revoke_credentials
from darvaza.identity.models import API_TOKEN, SESSION, Credential, User
from darvaza.logs import get_logger
from darvaza.security.caller import Actor, Caller
from darvaza.security.passwords import hash_password, needs_rehash, verify_password
from darvaza.security.ratelimit import RateLimiter, RateRules
from darvaza.security.roles import PlatformRole
from darvaza.security.tokens import SESSION_PREFIX, hash_token, looks_like_token, new_token

if TYPE_CHECKING:
    from darvaza.config import Settings

log = get_logger("darvaza.identity")

# Using a session moves its idle deadline; writing that down at most once a minute keeps
# authentication a read on almost every request.
LAST_USED_WRITE_INTERVAL = timedelta(minutes=1)
USER_AGENT_MAX = 255


@dataclass(frozen=True)
class SessionPolicy:
    absolute: timedelta
    idle: timedelta

    @classmethod
    def from_settings(cls, settings: Settings) -> SessionPolicy:
        return cls(
            absolute=timedelta(hours=settings.session_absolute_hours),
            idle=timedelta(minutes=settings.session_idle_minutes),
        )


@dataclass(frozen=True)
class NewSession:
    token: str
    credential: Credential


WRONG_LOGIN = N_("The email or password is wrong.")


@dataclass(frozen=True)
class LoginThrottle:
    """Sign-in limits. Attempts are counted per client address. Failures are counted per
    email address; at the limit that email is locked, but only for callers whose own
    address failed within the window: the account's owner, signing in from an address
    that has not been guessing, still gets in while someone else guesses at it."""

    limiter: RateLimiter
    rules: RateRules

    def before_attempt(self, *, ip: str, email: str) -> None:
        self.limiter.hit(self.rules.login_per_ip, ip)
        failures = self.rules.login_failures_per_email
        if self.limiter.exhausted(failures, email) and self.limiter.exhausted(
            self.rules.login_failed_recently_ip, ip
        ):
            self.limiter.refuse(failures, email)

    def failed(self, *, ip: str, email: str) -> bool:
        """Count a failure; whether it is still worth an audit event (anonymous noise from
        one address is recorded up to a limit, then only counted in the log lines)."""
        self.limiter.allow(self.rules.login_failures_per_email, email)
        self.limiter.allow(self.rules.login_failed_recently_ip, ip)
        return self.limiter.allow(self.rules.anonymous_audit_per_ip, f"login_failed:{ip}")


def login(
    db: Database,
    *,
    email: str,
    password: str,
    policy: SessionPolicy,
    ip: str,
    user_agent: str | None,
    throttle: LoginThrottle | None,
) -> NewSession:
    """Check the password and open a session. A wrong email and a wrong password get the
    same answer after the same work (a hash is verified either way)."""
    email = email_key(email)  # invalid text still spends the hashing time below
    if throttle is not None:
        throttle.before_attempt(ip=ip, email=email)
    with db.read() as session:
        user = find_user_by_email(session, email)
    if not verify_password(user.password_hash if user else None, password) or user is None:
        worth_recording = throttle.failed(ip=ip, email=email) if throttle is not None else True
        if worth_recording:
            with db.transaction() as session:
                append_event(
                    session,
                    action="auth.login.failed",
                    actor=Actor.anonymous(),
                    target_type="user" if user else None,
                    target_id=user.id if user else None,
                    data={"email": email},
                )
        else:
            log.info("audit_noise_not_recorded", action="auth.login.failed", ip=ip)
        raise Unauthenticated(WRONG_LOGIN, code="invalid_credentials")
    now = utcnow()
    token, token_hash = new_token(SESSION_PREFIX)
    with db.transaction() as session:
        if needs_rehash(user.password_hash):
            fresh = session.get(User, user.id)
            if fresh is not None:
                fresh.password_hash = hash_password(password)
        credential = Credential(
            user_id=user.id,
            kind=SESSION,
            token_hash=token_hash,
            created_at=now,
            last_used_at=now,
            expires_at=now + policy.absolute,
            created_ip=ip,
            user_agent=(user_agent or "")[:USER_AGENT_MAX] or None,
        )
        session.add(credential)
        session.flush()
        append_event(
            session,
            action="auth.login.succeeded",
            actor=Actor.user(user.id, user.platform_role),
            target_type="session",
            target_id=credential.id,
        )
    return NewSession(token, credential)


def authenticate(db: Database, token: str, policy: SessionPolicy) -> Caller | None:
    """The caller a bearer token stands for, or None when it is unknown, malformed,
    revoked, expired or idle too long. The platform role is read fresh on every request;
    roles in tenants are the tenants domain's to add (`tenants.service.Gatekeeper`)."""
    if not looks_like_token(token):
        return None
    now = utcnow()
    with db.read() as session:
        credential = session.scalars(
            select(Credential).where(Credential.token_hash == hash_token(token))
        ).one_or_none()
        if credential is None or not _is_live(credential, policy, now):
            return None
        user = credential.user
        if credential.kind == API_TOKEN and user.platform_role is None:
            return None  # API tokens are for platform staff only
        caller = Caller(
            user_id=user.id,
            email=user.email,
            platform_role=PlatformRole(user.platform_role) if user.platform_role else None,
            credential_id=credential.id,
            credential_kind=credential.kind,
            email_verified=user.email_verified_at is not None,
            language=user.language,
        )
        stale = now - credential.last_used_at >= LAST_USED_WRITE_INTERVAL
    if stale:
        _touch(db, credential.id, now)
    return caller


def _is_live(credential: Credential, policy: SessionPolicy, now: datetime) -> bool:
    if credential.revoked_at is not None:
        return False
    if credential.expires_at is not None and credential.expires_at <= now:
        return False
    return not (credential.kind == SESSION and credential.last_used_at + policy.idle <= now)


def _touch(db: Database, credential_id: uuid.UUID, now: datetime) -> None:
    with db.transaction() as session:
        credential = session.get(Credential, credential_id)
        if credential is not None and credential.last_used_at < now:
            credential.last_used_at = now


def logout(db: Database, caller: Caller) -> None:
    """End the credential the caller used."""
    with db.transaction() as session:
        credential = session.get(Credential, caller.credential_id)
        if credential is None or credential.revoked_at is not None:
            return
        credential.revoked_at = utcnow()
        credential.revoked_reason = "logout"
        append_event(
            session,
            action="auth.logout",
            actor=caller.actor(),
            target_type=credential.kind,
            target_id=credential.id,
        )


def _live_sessions_query(user_id: uuid.UUID, now: datetime):  # type: ignore[no-untyped-def]
    return select(Credential).where(
        Credential.user_id == user_id,
        Credential.kind == SESSION,
        Credential.revoked_at.is_(None),
        or_(Credential.expires_at.is_(None), Credential.expires_at > now),
    )


def list_sessions(db: Database, caller: Caller, policy: SessionPolicy) -> Sequence[Credential]:
    now = utcnow()
    with db.read() as session:
        found = session.scalars(
            _live_sessions_query(caller.user_id, now).order_by(Credential.created_at.desc())
        ).all()
    return [credential for credential in found if _is_live(credential, policy, now)]


def revoke_session(db: Database, caller: Caller, session_id: uuid.UUID) -> None:
    """End one of the caller's own sessions. Anyone else's id is an unknown id."""
    now = utcnow()
    with db.transaction() as session:
        credential = session.scalars(
            _live_sessions_query(caller.user_id, now).where(Credential.id == session_id)
        ).one_or_none()
        if credential is None:
            raise NotFound("No such session.")
        credential.revoked_at = now
        credential.revoked_reason = "revoked_by_user"
        append_event(
            session,
            action="auth.session_revoked",
            actor=caller.actor(),
            target_type="session",
            target_id=credential.id,
        )


def revoke_other_sessions(db: Database, caller: Caller) -> int:
    """End every session of the caller except the one making this request."""
    with db.transaction() as session:
        revoked = revoke_credentials(
            session,
            caller.user_id,
            now=utcnow(),
            reason="revoked_by_user",
            keep=caller.credential_id,
        )
        append_event(
            session,
            action="auth.sessions_revoked",
            actor=caller.actor(),
            target_type="user",
            target_id=caller.user_id,
            data={"revoked": revoked},
        )
    return revoked


def delete_ended_sessions(
    db: Database, policy: SessionPolicy, *, keep: timedelta, now: datetime | None = None
) -> int:
    """Delete sessions that ended (expired, revoked or idle too long) more than `keep`
    ago; they can never be used again. API tokens stay: operators list revoked ones."""
    cutoff = (now or utcnow()) - keep
    with db.transaction() as session:
        return changed_rows(
            session,
            delete(Credential).where(
                Credential.kind == SESSION,
                or_(
                    Credential.expires_at < cutoff,
                    Credential.revoked_at < cutoff,
                    Credential.last_used_at < cutoff - policy.idle,
                ),
            ),
        )
