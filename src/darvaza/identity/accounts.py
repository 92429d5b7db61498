"""Accounts: registering, creating users, passwords and platform roles."""

from __future__ import annotations

import unicodedata
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import select
from sqlalchemy.orm import Session

from darvaza.audit.service import append_event
from darvaza.clock import utcnow
from darvaza.config import Settings
from darvaza.db import Database, flush_unique, lock_row, values_by_id
from darvaza.errors import Conflict, Gone, InvalidInput, NotFound, Unauthenticated
from darvaza.identity import one_time
from darvaza.identity.credentials import revoke_credentials
from darvaza.identity.models import API_TOKEN, SESSION, OneTimeToken, User
from darvaza.mail import queue_mail
from darvaza.security.caller import Actor
from darvaza.security.passwords import (
    PasswordRejected,
    check_new_password,
    hash_password,
    verify_password,
)
from darvaza.security.roles import PlatformRole

MAX_EMAIL_LENGTH = 254


def normalise_email(email: str) -> str:
    """The one spelling an address is stored and looked up by: compatibility forms folded
    (full-width letters), composed, lower case, IDNA domain."""
    try:
        checked = validate_email(
            unicodedata.normalize("NFKC", email).strip(), check_deliverability=False
        )
    except EmailNotValidError as exc:
        raise InvalidInput(
            f"That is not a valid email address: {exc}", code="invalid_email"
        ) from None
    normalised = checked.normalized.lower()
    if len(normalised) > MAX_EMAIL_LENGTH:
        raise InvalidInput("That email address is too long.", code="invalid_email")
    return normalised


def email_key(email: str) -> str:
    """The address as every lookup, rate limit and audit event names it: the normalised
    address, or for text that is no valid address the same folding without validation, so
    that every spelling of one address counts as one."""
    try:
        return normalise_email(email)
    except InvalidInput:
        return unicodedata.normalize("NFKC", email).strip().lower()[:MAX_EMAIL_LENGTH]


def _checked_password(password: str, *, min_length: int, email: str) -> str:
    try:
        check_new_password(password, min_length=min_length, email=email)
    except PasswordRejected as exc:
        raise InvalidInput(str(exc), code="weak_password") from None
    return hash_password(password)


def _insert_user(session: Session, user: User) -> User:
    taken = Conflict("An account with that email already exists.", code="email_taken")
    flush_unique(session, lambda: session.add(user), taken)
    return user


@dataclass(frozen=True)
class MailedTokens:
    """Lifetimes of the links mailed to people, and how links are made."""

    links: one_time.Links
    verification_ttl: timedelta
    reset_ttl: timedelta

    @classmethod
    def from_settings(cls, settings: Settings) -> MailedTokens:
        return cls(
            links=one_time.Links(settings.effective_secret_key, settings.public_url),
            verification_ttl=timedelta(hours=settings.email_verification_ttl_hours),
            reset_ttl=timedelta(minutes=settings.password_reset_ttl_minutes),
        )


def register(
    db: Database, *, email: str, password: str, min_length: int, mailed: MailedTokens
) -> None:
    """A customer signs up. The answer is the same whether or not the address is taken:
    a new account gets a link to verify its address, an existing one a note that someone
    tried to sign up with it (so the owner learns of it and nobody else does)."""
    email = normalise_email(email)
    password_hash = _checked_password(password, min_length=min_length, email=email)
    now = utcnow()
    with db.transaction() as session:
        if find_user_by_email(session, email) is None:
            try:
                with session.begin_nested():
                    user = _insert_user(
                        session,
                        User(
                            email=email,
                            password_hash=password_hash,
                            created_at=now,
                            password_changed_at=now,
                        ),
                    )
            except Conflict:
                user = None  # registered a moment ago by someone else: treat as taken
            if user is not None:
                append_event(
                    session,
                    action="user.registered",
                    actor=Actor.user(user.id, None),
                    target_type="user",
                    target_id=user.id,
                    data={"email": email},
                )
                _queue_verification(session, user, mailed, now)
                return
        queue_mail(
            session,
            to=email,
            subject="Someone tried to sign up with your address",
            text=(
                "Someone (perhaps you) tried to create an account with this address, but "
                "it already has one.\n\nIf it was you, sign in instead, or reset your "
                f"password at {mailed.links.url('/console/reset-password')}.\n\n"
                "If it was not you, you need not do anything."
            ),
        )


def _queue_verification(session: Session, user: User, mailed: MailedTokens, now: datetime) -> None:
    hours = int(mailed.verification_ttl.total_seconds() // 3600)
    one_time.mail_link(
        session,
        mailed.links,
        purpose=one_time.EMAIL_VERIFICATION,
        email=user.email,
        user_id=user.id,
        ttl=mailed.verification_ttl,
        now=now,
        path="/console/verify-email",
        subject="Confirm your email address",
        text=(
            "Confirm that this address is yours to finish signing up:\n\n{link}\n\n"
            f"The link works once, for {hours} hours. If you did not sign up, ignore this."
        ),
    )


def resend_verification(db: Database, *, user_id: uuid.UUID, mailed: MailedTokens) -> bool:
    """Send a fresh verification link; False when the address is verified already."""
    now = utcnow()
    with db.transaction() as session:
        user = get_user(session, user_id)
        if user.email_verified_at is not None:
            return False
        _queue_verification(session, user, mailed, now)
        return True


def _user_named_by(
    session: Session, purpose: str, token: str, now: datetime
) -> tuple[User, OneTimeToken]:
    """The live token of `purpose` and the account it was mailed to, still at that address."""
    row = one_time.find(session, purpose=purpose, token=token, now=now)
    user = session.get(User, row.user_id) if row.user_id else None
    if user is None or user.email != row.email:
        raise Gone("That link is for an address this account no longer has.", code="token_used")
    return user, row


def verify_email(db: Database, *, token: str) -> User:
    now = utcnow()
    with db.transaction() as session:
        user, row = _user_named_by(session, one_time.EMAIL_VERIFICATION, token, now)
        one_time.spend(row, now)
        if user.email_verified_at is None:
            user.email_verified_at = now
        append_event(
            session,
            action="user.email_verified",
            actor=Actor.user(user.id, user.platform_role),
            target_type="user",
            target_id=user.id,
        )
        return user


def request_password_reset(db: Database, *, email: str, mailed: MailedTokens) -> None:
    """Mail a reset link if an account has this address. The caller sees the same answer
    either way, after about the same work; only text that is no address at all is refused
    (422), which tells nothing about accounts."""
    key = normalise_email(email)
    now = utcnow()
    with db.transaction() as session:
        user = find_user_by_email(session, key)
        if user is None:
            return
        minutes = int(mailed.reset_ttl.total_seconds() // 60)
        one_time.mail_link(
            session,
            mailed.links,
            purpose=one_time.PASSWORD_RESET,
            email=user.email,
            user_id=user.id,
            ttl=mailed.reset_ttl,
            now=now,
            path="/console/reset-password",
            subject="Reset your password",
            text=(
                "Someone (perhaps you) asked to reset the password of this account. "
                "Choose a new one here:\n\n{link}\n\n"
                f"The link works once, for {minutes} minutes. If you did not ask, ignore "
                "this: your password stays as it is."
            ),
        )
        append_event(
            session,
            action="auth.password_reset_requested",
            actor=Actor.anonymous(),
            target_type="user",
            target_id=user.id,
        )


def reset_password(db: Database, *, token: str, new_password: str, min_length: int) -> int:
    """Set a new password with a reset link: the link and every other open one end, and so
    does every session and API token of the account. Returns how many credentials ended."""
    now = utcnow()
    with db.transaction() as session:
        user, row = _user_named_by(session, one_time.PASSWORD_RESET, token, now)
        if user.email_verified_at is None:
            user.email_verified_at = now  # the link reached this mailbox: it is theirs
        one_time.spend(row, now)
        revoked = _replace_password(session, user, new_password, min_length, "password_reset")
        append_event(
            session,
            action="user.password_reset",
            actor=Actor.user(user.id, user.platform_role),
            target_type="user",
            target_id=user.id,
            data={"credentials_revoked": revoked},
        )
        return revoked


def _replace_password(
    session: Session, user: User, new_password: str, min_length: int, reason: str
) -> int:
    """A new password by another way than the old one: every open reset link, session and
    API token of the account ends. Returns how many credentials ended."""
    now = utcnow()
    user.password_hash = _checked_password(new_password, min_length=min_length, email=user.email)
    user.password_changed_at = now
    one_time.spend_others(session, purpose=one_time.PASSWORD_RESET, user_id=user.id, now=now)
    return revoke_credentials(session, user.id, now=now, reason=reason, kinds=(SESSION, API_TOKEN))


def set_password(
    db: Database, actor: Actor, *, email: str, new_password: str, min_length: int
) -> int:
    """An operator sets someone's password (an admin locked out, from the shell): every
    open reset link, session and API token of the account ends. Returns how many
    credentials ended."""
    with db.transaction() as session:
        user = require_user_by_email(session, email)
        revoked = _replace_password(session, user, new_password, min_length, "password_set")
        append_event(
            session,
            action="user.password_set",
            actor=actor,
            target_type="user",
            target_id=user.id,
            data={"credentials_revoked": revoked},
        )
        return revoked


def create_user(
    db: Database,
    actor: Actor,
    *,
    email: str,
    password: str,
    min_length: int,
    platform_role: PlatformRole | None = None,
) -> User:
    """Staff (or the CLI, bootstrapping the first admin) create an account directly."""
    email = normalise_email(email)
    password_hash = _checked_password(password, min_length=min_length, email=email)
    now = utcnow()
    with db.transaction() as session:
        user = _insert_user(
            session,
            User(
                email=email,
                password_hash=password_hash,
                platform_role=platform_role.value if platform_role else None,
                created_at=now,
                password_changed_at=now,
                # Staff vouch for the address of an account they make.
                email_verified_at=now,
            ),
        )
        append_event(
            session,
            action="user.created",
            actor=actor,
            target_type="user",
            target_id=user.id,
            data={"email": email, "platform_role": user.platform_role},
        )
    return user


def get_user(session: Session, user_id: uuid.UUID) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound("No such user.")
    return user


def find_user_by_email(session: Session, email: str) -> User | None:
    return session.scalars(select(User).where(User.email == email)).one_or_none()


def require_user_by_email(session: Session, email: str) -> User:
    user = find_user_by_email(session, normalise_email(email))
    if user is None:
        raise InvalidInput("No account has that email address.", code="unknown_user")
    return user


def list_users(db: Database, *, email: str | None, limit: int) -> Sequence[User]:
    with db.read() as session:
        query = select(User).order_by(User.created_at, User.id).limit(limit)
        if email:
            query = query.where(User.email == email_key(email))
        return session.scalars(query).all()


def change_password(
    db: Database,
    *,
    user_id: uuid.UUID,
    credential_id: uuid.UUID,
    current_password: str,
    new_password: str,
    min_length: int,
) -> int:
    """Change one's own password; every other session and API token of the user ends.

    Returns how many credentials were revoked.
    """
    with db.transaction() as session:
        user = get_user(session, user_id)
        if not verify_password(user.password_hash, current_password):
            raise Unauthenticated("The current password is wrong.", code="invalid_credentials")
        user.password_hash = _checked_password(
            new_password, min_length=min_length, email=user.email
        )
        now = utcnow()
        user.password_changed_at = now
        revoked = revoke_credentials(
            session,
            user.id,
            now=now,
            reason="password_changed",
            kinds=(SESSION, API_TOKEN),
            keep=credential_id,
        )
        append_event(
            session,
            action="user.password_changed",
            actor=Actor.user(user.id, user.platform_role),
            target_type="user",
            target_id=user.id,
            data={"credentials_revoked": revoked},
        )
    return revoked


def set_platform_role(
    db: Database, actor: Actor, *, user_id: uuid.UUID, role: PlatformRole | None
) -> User:
    """Give or take a platform role. The user's sessions end (they sign in again under the
    new role); losing every platform role also ends their API tokens. The last platform
    admin cannot be demoted, so the platform is never left without one."""
    with db.transaction() as session:
        # Lock the whole set of admins first, always in one order, then the user: two
        # admins demoting each other at once are serialised, and the second one counts
        # the admins that remain after the first.
        admins = session.scalars(
            select(User.id)
            .where(User.platform_role == PlatformRole.PLATFORM_ADMIN.value)
            .order_by(User.id)
            .with_for_update()
        ).all()
        user = lock_row(session, User, User.id == user_id, missing="No such user.")
        before = user.platform_role
        after = role.value if role else None
        if before == after:
            return user
        if before == PlatformRole.PLATFORM_ADMIN and len(admins) <= 1:
            raise Conflict(
                "This is the last platform admin; make another one first.",
                code="last_platform_admin",
            )
        user.platform_role = after
        now = utcnow()
        kinds = (SESSION,) if after else (SESSION, API_TOKEN)
        revoked = revoke_credentials(session, user.id, now=now, reason="role_changed", kinds=kinds)
        append_event(
            session,
            action="user.platform_role_changed",
            actor=actor,
            target_type="user",
            target_id=user.id,
            data={"from": before, "to": after, "credentials_revoked": revoked},
        )
    return user


def user_by_id(db: Database, user_id: uuid.UUID) -> User:
    with db.read() as session:
        return get_user(session, user_id)


def emails_by_id(session: Session, user_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, str]:
    return values_by_id(session, User.id, User.email, user_ids)


def platform_role_of(session: Session, user_id: uuid.UUID) -> PlatformRole | None:
    role = session.scalar(select(User.platform_role).where(User.id == user_id))
    return PlatformRole(role) if role else None


def set_language(db: Database, user_id: uuid.UUID, language: str | None) -> None:
    """The console language a person chose (None: follow the browser). A preference of
    the person's own, not a change anyone audits."""
    with db.transaction() as session:
        user = lock_row(session, User, User.id == user_id, missing="No such user.")
        user.language = language
