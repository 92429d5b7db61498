"""Single-use tokens sent by email: issued with a lifetime, stored as a hash, spent once.

The token is derived from its row's id under the secret key (`derived_token`), so the mail
job can put it in the mail without it ever being stored; a leaked database holds none.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlalchemy.orm import Session

from darvaza.db import lock_row
from darvaza.errors import Gone, InvalidInput, NotFound
from darvaza.identity.models import OneTimeToken
from darvaza.mail import TOKEN_PLACEHOLDER, OneTimeSecret, queue_mail
from darvaza.security.tokens import ONE_TIME_PREFIX, derived_token, hash_token, looks_like_token


@dataclass(frozen=True)
class Links:
    """What a mailed link is made of: the key tokens are derived under, and where people
    reach Darvaza."""

    secret_key: str
    public_url: str

    def url(self, path: str) -> str:
        return f"{self.public_url.rstrip('/')}{path}"


PASSWORD_RESET = "password_reset"
EMAIL_VERIFICATION = "email_verification"
TENANT_INVITATION = "tenant_invitation"


def issue(
    session: Session,
    *,
    secret_key: str,
    purpose: str,
    email: str,
    ttl: timedelta,
    now: datetime,
    user_id: uuid.UUID | None = None,
    tenant_id: uuid.UUID | None = None,
    role: str | None = None,
    created_by: uuid.UUID | None = None,
) -> OneTimeSecret:
    """A new token row; what the mail names so that the mail job can derive the token."""
    row_id = uuid.uuid4()
    token = derived_token(secret_key, purpose, str(row_id))
    session.add(
        OneTimeToken(
            id=row_id,
            purpose=purpose,
            token_hash=hash_token(token),
            email=email,
            user_id=user_id,
            tenant_id=tenant_id,
            role=role,
            created_by=created_by,
            created_at=now,
            expires_at=now + ttl,
        )
    )
    return OneTimeSecret(purpose, str(row_id))


def find(session: Session, *, purpose: str, token: str, now: datetime) -> OneTimeToken:
    """The live token row, locked: 422 for a token that is not shaped like one of ours,
    404 for a well-formed one that names nothing, 410 for one used or expired."""
    if not token.startswith(ONE_TIME_PREFIX) or not looks_like_token(token):
        raise InvalidInput("That link is not valid.", code="invalid_token")
    row = lock_row(
        session,
        OneTimeToken,
        OneTimeToken.token_hash == hash_token(token),
        OneTimeToken.purpose == purpose,
        missing=NotFound("That link is not valid.", code="invalid_token"),
    )
    if row.used_at is not None:
        raise Gone("That link was used already.", code="token_used")
    if row.expires_at <= now:
        raise Gone("That link has expired; ask for a new one.", code="token_expired")
    return row


def spend(row: OneTimeToken, now: datetime) -> None:
    row.used_at = now


def spend_others(session: Session, *, purpose: str, user_id: uuid.UUID, now: datetime) -> None:
    """Every other live token of this purpose for the user ends too (one reset link
    works, the rest stop)."""
    session.execute(
        update(OneTimeToken)
        .where(
            OneTimeToken.purpose == purpose,
            OneTimeToken.user_id == user_id,
            OneTimeToken.used_at.is_(None),
        )
        .values(used_at=now)
    )


def mail_link(
    session: Session,
    links: Links,
    *,
    purpose: str,
    email: str,
    ttl: timedelta,
    now: datetime,
    path: str,
    subject: str,
    text: str,
    user_id: uuid.UUID | None = None,
    tenant_id: uuid.UUID | None = None,
    role: str | None = None,
    created_by: uuid.UUID | None = None,
) -> OneTimeSecret:
    """Issue a token and queue the mail that carries it: `text` says `{link}` where the
    link to `path` goes (the token is put in by the mail job, never stored)."""
    secret = issue(
        session, secret_key=links.secret_key, purpose=purpose, email=email, ttl=ttl, now=now,
        user_id=user_id, tenant_id=tenant_id, role=role, created_by=created_by,
    )  # fmt: skip
    link = f"{links.url(path)}?token={TOKEN_PLACEHOLDER}"
    queue_mail(session, to=email, subject=subject, text=text.replace("{link}", link), secret=secret)
    return secret
