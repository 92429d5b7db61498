"""Staff API tokens: long-lived bearer tokens for automation, for platform staff only.

Created by a platform admin (or the CLI), shown once, stored only as a hash, revocable,
optionally expiring. A token acts with its owner's current platform role.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select

from darvaza.audit.service import append_event
from darvaza.clock import utcnow
from darvaza.db import Database, lock_row
from darvaza.errors import InvalidInput
from darvaza.identity.accounts import require_user_by_email
from darvaza.identity.models import API_TOKEN, Credential
from darvaza.security.caller import Actor
from darvaza.security.tokens import API_TOKEN_PREFIX, new_token

MAX_TOKEN_DAYS = 3650


@dataclass(frozen=True)
class NewApiToken:
    token: str
    credential: Credential


def create_api_token(
    db: Database,
    actor: Actor,
    *,
    email: str,
    name: str,
    expires_in_days: int | None,
    max_days: int,
    created_by: uuid.UUID | None = None,
) -> NewApiToken:
    """A staff API token, shown once. It expires after `expires_in_days`, or after
    `max_days` when none is asked for (`max_days` 0: no limit, and no expiry by default)."""
    name = name.strip()
    if not name:
        raise InvalidInput("A token needs a name.", code="invalid_name")
    longest = max_days or MAX_TOKEN_DAYS
    if expires_in_days is not None and not 1 <= expires_in_days <= longest:
        raise InvalidInput(
            f"expires_in_days must be between 1 and {longest}.", code="invalid_expiry"
        )
    if expires_in_days is None and max_days:
        expires_in_days = max_days
    now = utcnow()
    token, token_hash = new_token(API_TOKEN_PREFIX)
    with db.transaction() as session:
        user = require_user_by_email(session, email)
        if user.platform_role is None:
            raise InvalidInput("API tokens are for platform staff only.", code="not_staff")
        credential = Credential(
            user=user,
            kind=API_TOKEN,
            name=name,
            token_hash=token_hash,
            created_at=now,
            last_used_at=now,
            expires_at=now + timedelta(days=expires_in_days) if expires_in_days else None,
            created_by=created_by,
        )
        session.add(credential)
        session.flush()
        append_event(
            session,
            action="api_token.created",
            actor=actor,
            target_type="api_token",
            target_id=credential.id,
            data={"user": user.email, "token_name": name, "expires_in_days": expires_in_days},
        )
    return NewApiToken(token, credential)


def list_api_tokens(db: Database, *, include_revoked: bool = False) -> Sequence[Credential]:
    with db.read() as session:
        query = (
            select(Credential)
            .where(Credential.kind == API_TOKEN)
            .order_by(Credential.created_at.desc(), Credential.id)
        )
        if not include_revoked:
            query = query.where(Credential.revoked_at.is_(None))
        return session.scalars(query).all()


def revoke_api_token(db: Database, actor: Actor, token_id: uuid.UUID) -> Credential:
    """Revoke a token at once. Revoking a revoked token changes nothing."""
    with db.transaction() as session:
        credential = lock_row(
            session,
            Credential,
            Credential.id == token_id,
            Credential.kind == API_TOKEN,
            missing="No such API token.",
        )
        if credential.revoked_at is None:
            credential.revoked_at = utcnow()
            credential.revoked_reason = "revoked"
            append_event(
                session,
                action="api_token.revoked",
                actor=actor,
                target_type="api_token",
                target_id=credential.id,
                data={"token_name": credential.name},
            )
    return credential
