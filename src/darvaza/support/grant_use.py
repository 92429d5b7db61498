"""Working under a support access grant: which grant admits a request, and the grant's
action log of every request made under it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from darvaza.audit.service import append_event
from darvaza.clock import utcnow
from darvaza.db import Database
from darvaza.security.caller import Actor
from darvaza.security.grants import GrantScope, covers
from darvaza.security.roles import PlatformRole
from darvaza.support.models import SupportGrant, SupportGrantAction


@dataclass(frozen=True)
class GrantUse:
    """One request made under a grant, as the action log records it."""

    grant_id: uuid.UUID
    user_id: uuid.UUID
    tenant_id: uuid.UUID
    method: str
    route: str
    object_ids: dict[str, Any]
    status: int
    request_id: str | None


def active_grant_for(
    db: Database, user_id: uuid.UUID, tenant_id: uuid.UUID, scope: GrantScope
) -> uuid.UUID | None:
    """The approved, unexpired grant of this person in this tenant that covers `scope`
    (read fresh on every request: a revoked grant refuses the very next one)."""
    now = utcnow()
    with db.read() as session:
        grants = session.scalars(
            select(SupportGrant)
            .where(
                SupportGrant.requester_id == user_id,
                SupportGrant.tenant_id == tenant_id,
                SupportGrant.state == "approved",
                SupportGrant.ends_at > now,
            )
            .order_by(SupportGrant.ends_at.desc())
        ).all()
        for grant in grants:
            if covers(scope, data_classes=grant.data_classes, access=grant.access,
                      actions=grant.actions):  # fmt: skip
                return grant.id
    return None


def record_grant_use(db: Database, use: GrantUse) -> None:
    """One line of the grant's action log and its audit event, in one transaction."""
    now = utcnow()
    with db.transaction() as session:
        session.add(
            SupportGrantAction(
                grant_id=use.grant_id, tenant_id=use.tenant_id, user_id=use.user_id,
                occurred_at=now, method=use.method, route=use.route[:200],
                object_ids=use.object_ids, status=use.status, request_id=use.request_id,
            )
        )  # fmt: skip
        append_event(
            session, action="support_grant.used",
            actor=Actor("user", str(use.user_id), PlatformRole.SUPPORT_ADMIN.value,
                        str(use.grant_id)),
            tenant_id=use.tenant_id, target_type="support_grant", target_id=use.grant_id,
            data={"method": use.method, "route": use.route, "status": use.status,
                  "object_ids": use.object_ids},
            request_id=use.request_id,
        )  # fmt: skip
