"""Ending credentials: the one way sessions and API tokens are revoked."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import update
from sqlalchemy.orm import Session

from darvaza.db import changed_rows
from darvaza.identity.models import SESSION, Credential


def revoke_credentials(
    session: Session,
    user_id: uuid.UUID,
    *,
    now: datetime,
    reason: str,
    kinds: Iterable[str] = (SESSION,),
    keep: uuid.UUID | None = None,
) -> int:
    """Revoke a user's live credentials of the given kinds (all but `keep`); return how many."""
    statement = (
        update(Credential)
        .where(
            Credential.user_id == user_id,
            Credential.kind.in_(list(kinds)),
            Credential.revoked_at.is_(None),
        )
        .values(revoked_at=now, revoked_reason=reason)
    )
    if keep is not None:
        statement = statement.where(Credential.id != keep)
    return changed_rows(session, statement)
