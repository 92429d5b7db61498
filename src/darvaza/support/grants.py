"""Support access grants: a support admin asks one tenant for time-boxed access to some of
its data, for a ticket of that tenant; the tenant's owner decides; every request made
under the grant is logged where the tenant can read it.

Each change locks the grant's row, re-reads its state, acts only if the state still
allows it, and writes the grant's history and an audit event in the same transaction.
A request nobody decided in time, or a grant whose time is over, is treated as lapsed the
moment it is touched (the periodic job only writes down what is already so).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from darvaza.audit.service import append_event
from darvaza.clock import utcnow
from darvaza.config import Settings
from darvaza.db import Database, lock_row
from darvaza.errors import Conflict, Forbidden, InvalidInput
from darvaza.mail import queue_mail
from darvaza.security.caller import Actor, Caller
from darvaza.security.grants import DATA_CLASSES, READ, WRITE
from darvaza.security.roles import PlatformRole
from darvaza.support.grant_views import NOT_FOUND, GrantView, view_of
from darvaza.support.models import (
    GRANT,
    SupportGrant,
    SupportGrantEvent,
    SupportTicket,
)
from darvaza.tenants import service as tenants

# A platform admin approving alone (break-glass) gets at most this long.
BREAK_GLASS_LIMIT = timedelta(hours=1)
MIN_MINUTES = 5
MAX_REASON = 2_000


@dataclass(frozen=True)
class GrantRules:
    default_minutes: int
    max_minutes: int
    decide_within: timedelta
    console_url: str

    @classmethod
    def from_settings(cls, settings: Settings) -> GrantRules:
        return cls(
            settings.support_grant_default_minutes,
            settings.support_grant_max_minutes,
            timedelta(hours=settings.support_request_expire_hours),
            settings.public_url.rstrip("/"),
        )


def _text(value: str | None, what: str) -> str:
    value = (value or "").strip()
    if not value:
        raise InvalidInput(f"A support grant needs a {what}.", code=f"invalid_{what}")
    if len(value) > MAX_REASON:
        raise InvalidInput(f"The {what} is longer than {MAX_REASON} characters.",
                           code=f"invalid_{what}")  # fmt: skip
    return value


def check_scope(data_classes: Sequence[str], access: str, actions: Sequence[str]) -> None:
    """A grant names known data classes; a read grant no action; a write grant at least one
    action, each of a data class it names."""
    unknown = [name for name in data_classes if name not in DATA_CLASSES]
    if not data_classes or unknown or len(set(data_classes)) != len(data_classes):
        raise InvalidInput(
            f"Name each data class once, of: {', '.join(DATA_CLASSES)}.", code="invalid_scope"
        )
    if access == READ and actions:
        raise InvalidInput("A read grant names no actions.", code="invalid_scope")
    if access == WRITE:
        allowed = {action for name in data_classes for action in DATA_CLASSES[name]}
        wrong = [action for action in actions if action not in allowed]
        if not actions or wrong or len(set(actions)) != len(actions):
            raise InvalidInput(
                "A write grant names the actions it allows, each once, from its data "
                f"classes: {', '.join(sorted(allowed)) or 'none of them has any'}.",
                code="invalid_scope",
            )
    if access not in (READ, WRITE):
        raise InvalidInput("Access is read or write.", code="invalid_scope")


def _event(session: Session, grant: SupportGrant, event: str, source: str | None,
           actor: Actor, now: datetime, reason: str | None) -> None:  # fmt: skip
    """One line of the grant's history and its audit event."""
    session.add(
        SupportGrantEvent(
            grant_id=grant.id, occurred_at=now, event=event, from_state=source,
            to_state=grant.state, actor_id=uuid.UUID(actor.id) if actor.type == "user" and
            actor.id else None, actor_role=actor.role, reason=reason,
        )
    )  # fmt: skip
    append_event(
        session, action=f"support_grant.{event}", actor=actor, tenant_id=grant.tenant_id,
        target_type="support_grant", target_id=grant.id, reason=reason,
        data={"from": source, "to": grant.state, "ticket_id": str(grant.ticket_id)},
    )  # fmt: skip


def _move(session: Session, grant: SupportGrant, target: str, actor: Actor, now: datetime,
          reason: str | None = None) -> None:  # fmt: skip
    """The one way a grant's state changes."""
    source = GRANT.move(grant, target)
    grant.updated_at = now
    if source == "requested":
        grant.decided_at = now
        if actor.type == "user" and target in ("approved", "denied") and actor.id:
            grant.decided_by = uuid.UUID(actor.id)
    if target == "approved":
        grant.approved_at = now
        grant.ends_at = now + timedelta(minutes=grant.duration_minutes)
    elif source == "approved":
        grant.ended_at = now
    _event(session, grant, target, source, actor, now, reason)


def _lapsed(grant: SupportGrant, now: datetime) -> str | None:
    """The state a grant is really in when its time ran out before anyone wrote it."""
    if grant.state == "requested" and grant.decide_by <= now:
        return "expired"
    if grant.state == "approved" and grant.ends_at is not None and grant.ends_at <= now:
        return "ended"
    return None


def _catch_up(session: Session, grant: SupportGrant, now: datetime) -> bool:
    """Write down a lapse that has happened; True when it had."""
    lapsed = _lapsed(grant, now)
    if lapsed is None:
        return False
    why = "nobody decided in time" if lapsed == "expired" else "its time is over"
    _move(session, grant, lapsed, Actor.system("support"), now, why)
    return True


def _lock(session: Session, grant_id: uuid.UUID, tenant_id: uuid.UUID | None) -> SupportGrant:
    where = [SupportGrant.id == grant_id]
    if tenant_id is not None:
        where.append(SupportGrant.tenant_id == tenant_id)
    return lock_row(session, SupportGrant, *where, missing=NOT_FOUND)


def _change(
    db: Database, grant_id: uuid.UUID, tenant_id: uuid.UUID | None,
    change: Callable[[Session, SupportGrant, datetime], None],
) -> GrantView:  # fmt: skip
    """Lock the grant, catch up with a lapse, then apply `change(session, grant, now)`. A
    lapse found is committed before the refusal, so the history says what happened."""
    with db.transaction() as session:
        grant = _lock(session, grant_id, tenant_id)
        # The time is read once the row is ours: a change that waited for the lock is
        # written after the one it waited for, in time as in order.
        now = utcnow()
        if not _catch_up(session, grant, now):
            change(session, grant, now)
            session.flush()
            return view_of(session, grant)
        lapsed = grant.state
    raise Conflict(
        f"This grant is {lapsed}: nobody decided in time, or its time is over.",
        code=f"grant_{lapsed}",
    )


def request_grant(
    db: Database, caller: Caller, rules: GrantRules, *, tenant_id: uuid.UUID,
    ticket_id: uuid.UUID, reason: str, data_classes: Sequence[str], access: str,
    actions: Sequence[str] = (), duration_minutes: int | None = None,
) -> GrantView:  # fmt: skip
    """A support admin asks for access to one tenant, for one of its tickets. The tenant's
    owners are told by mail (and see it in the console)."""
    if caller.platform_role is not PlatformRole.SUPPORT_ADMIN:
        raise Forbidden("Support admins ask for access grants; platform admins need none.",
                        code="not_support_admin")  # fmt: skip
    reason = _text(reason, "reason")
    check_scope(data_classes, access, actions)
    minutes = rules.default_minutes if duration_minutes is None else duration_minutes
    if not MIN_MINUTES <= minutes <= rules.max_minutes:
        raise InvalidInput(
            f"A grant lasts {MIN_MINUTES} to {rules.max_minutes} minutes.", code="invalid_duration"
        )
    now = utcnow()
    with db.transaction() as session:
        ticket = session.scalars(
            select(SupportTicket).where(
                SupportTicket.id == ticket_id, SupportTicket.tenant_id == tenant_id
            )
        ).one_or_none()
        if ticket is None:
            raise InvalidInput("The ticket is not one of this tenant's.", code="invalid_ticket")
        if ticket.state == "closed":
            raise Conflict("The ticket is closed: access is asked for open work only.",
                           code="ticket_closed")  # fmt: skip
        grant = SupportGrant(
            tenant_id=tenant_id, ticket_id=ticket_id, requester_id=caller.user_id,
            reason=reason, data_classes=list(data_classes), access=access,
            actions=list(actions), duration_minutes=minutes, state="requested",
            requested_at=now, decide_by=now + rules.decide_within, updated_at=now,
        )  # fmt: skip
        session.add(grant)
        session.flush()
        _event(session, grant, "requested", None, caller.actor(tenant_id), now, reason)
        _tell_owners(session, grant, rules, caller)
        return view_of(session, grant)


def _tell_owners(session: Session, grant: SupportGrant, rules: GrantRules, caller: Caller) -> None:
    slug = tenants.slugs_by_id(session, [grant.tenant_id])[grant.tenant_id]
    scope = ", ".join(grant.data_classes) + f" ({grant.access}"
    scope += f": {', '.join(grant.actions)})" if grant.actions else ")"
    text = (
        f"{caller.email} of platform support asks for access to {slug}'s data.\n\n"
        f"Reason: {grant.reason}\nScope: {scope}\n"
        f"Duration: {grant.duration_minutes} minutes from approval\n"
        f"Decide by: {grant.decide_by.isoformat()} (it lapses then)\n\n"
        f"Approve or deny it: {rules.console_url}/console/t/{slug}/manage/support\n"
    )
    for email in tenants.owner_emails(session, grant.tenant_id):
        queue_mail(session, to=email, subject=f"Support access requested for {slug}", text=text)


def decide_grant(
    db: Database, caller: Caller, grant_id: uuid.UUID, *, tenant_id: uuid.UUID, approve: bool,
    reason: str | None = None, break_glass: bool = False,
) -> GrantView:  # fmt: skip
    """The tenant's owner approves or denies. A platform admin who is not an owner may deny,
    and approves only as break-glass, with a reason: then the grant lasts at most an hour
    and waits for another person's review. Nobody decides their own request."""

    def decide(session: Session, grant: SupportGrant, now: datetime) -> None:
        if grant.requester_id == caller.user_id:
            raise Forbidden("Nobody decides their own access request.", code="own_request")
        if grant.state != "requested":
            raise Conflict(f"This grant is {grant.state}, not waiting for a decision.",
                           code=f"grant_{grant.state}")  # fmt: skip
        owner = tenants.is_owner(session, tenant_id, caller.user_id)
        actor = caller.actor(tenant_id)
        if not approve:
            if not owner and caller.platform_role is not PlatformRole.PLATFORM_ADMIN:
                raise Forbidden("Only the tenant's owners decide about support access.")
            _move(session, grant, "denied", actor, now, reason)
            return
        if not owner:
            alone = caller.platform_role is PlatformRole.PLATFORM_ADMIN and break_glass
            if not alone or not (reason or "").strip():
                raise Forbidden(
                    "Only the tenant's owners approve support access; a platform admin "
                    "approves alone only as break-glass, with a reason.",
                    code="break_glass_required",
                )
            grant.break_glass = True
            limit = int(BREAK_GLASS_LIMIT.total_seconds() // 60)
            grant.duration_minutes = min(grant.duration_minutes, limit)
        _move(session, grant, "approved", actor, now, reason)

    return _change(db, grant_id, tenant_id, decide)


def revoke_grant(
    db: Database, actor: Actor, grant_id: uuid.UUID, *, tenant_id: uuid.UUID | None,
    reason: str | None = None,
) -> GrantView:  # fmt: skip
    """The tenant's owner or a platform admin (or the operator, from the CLI) ends an
    approved grant at once."""

    def revoke(session: Session, grant: SupportGrant, now: datetime) -> None:
        if grant.state == "requested":
            raise Conflict("This grant is not approved yet: deny it instead.",
                           code="grant_requested")  # fmt: skip
        if grant.state != "approved":
            raise Conflict(f"This grant is already {grant.state}.", code=f"grant_{grant.state}")
        _move(session, grant, "revoked", actor, now, reason)

    return _change(db, grant_id, tenant_id, revoke)


def withdraw_grant(db: Database, caller: Caller, grant_id: uuid.UUID,
                   reason: str | None = None) -> GrantView:  # fmt: skip
    """Its requester takes back a request, or gives up an approved grant early."""

    def withdraw(session: Session, grant: SupportGrant, now: datetime) -> None:
        if grant.requester_id != caller.user_id:
            raise Forbidden("Only the person who asked withdraws a request.", code="not_yours")
        if grant.state not in GRANT.sources_of("withdrawn"):
            raise Conflict(f"This grant is already {grant.state}.", code=f"grant_{grant.state}")
        _move(session, grant, "withdrawn", caller.actor(grant.tenant_id), now, reason)

    return _change(db, grant_id, None, withdraw)


def review_grant(
    db: Database, caller: Caller, grant_id: uuid.UUID, *, tenant_id: uuid.UUID | None,
    note: str,
) -> GrantView:  # fmt: skip
    """Another platform admin, or the tenant's owner, reviews a break-glass approval."""
    note = _text(note, "note")
    with db.transaction() as session:
        grant = _lock(session, grant_id, tenant_id)
        now = utcnow()  # once the row is ours (see `_change`)
        _catch_up(session, grant, now)
        if not grant.break_glass:
            raise Conflict("Only a break-glass approval is reviewed.", code="not_break_glass")
        if grant.reviewed_at is not None:
            raise Conflict("This approval has been reviewed already.", code="already_reviewed")
        if caller.user_id in (grant.decided_by, grant.requester_id):
            raise Forbidden("A break-glass approval is reviewed by someone else.",
                            code="own_approval")  # fmt: skip
        owner = tenants.is_owner(session, grant.tenant_id, caller.user_id)
        if not owner and caller.platform_role is not PlatformRole.PLATFORM_ADMIN:
            raise Forbidden("The tenant's owner or another platform admin reviews it.")
        grant.reviewed_at, grant.reviewed_by, grant.updated_at = now, caller.user_id, now
        _event(session, grant, "reviewed", grant.state, caller.actor(grant.tenant_id), now, note)
        session.flush()
        return view_of(session, grant)


def end_grants_of_ticket(session: Session, ticket_id: uuid.UUID, now: datetime) -> int:
    """Closing a ticket ends its approved grants and withdraws its open requests (inside
    the ticket's transaction)."""
    grants = session.scalars(
        select(SupportGrant)
        .where(
            SupportGrant.ticket_id == ticket_id, SupportGrant.state.in_(("requested", "approved"))
        )
        .with_for_update()
    ).all()
    for grant in grants:
        target = "ended" if grant.state == "approved" else "withdrawn"
        _move(session, grant, target, Actor.system("support"), now, "its ticket was closed")
    return len(grants)


def end_due_grants(db: Database, *, limit: int = 500) -> dict[str, int]:
    """Write down the grants whose time is over and the requests nobody decided."""
    now = utcnow()
    counts = {"ended": 0, "expired": 0}
    with db.read() as session:
        due = session.scalars(
            select(SupportGrant.id)
            .where(
                ((SupportGrant.state == "approved") & (SupportGrant.ends_at <= now))
                | ((SupportGrant.state == "requested") & (SupportGrant.decide_by <= now))
            )
            .limit(limit)
        ).all()
    for grant_id in due:
        with db.transaction() as session:
            grant = _lock(session, grant_id, None)
            if _catch_up(session, grant, utcnow()):
                counts[grant.state] += 1
    return counts
