"""Plans: what a tenant sells. Every query is filtered by tenant."""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from darvaza.audit.service import append_event
from darvaza.billing.models import Plan
from darvaza.billing.schemas import PLAN_CODE_PATTERN
from darvaza.clock import utcnow
from darvaza.db import Database, flush_unique, lock_row
from darvaza.errors import Conflict, InvalidInput, NotFound
from darvaza.security.caller import Actor

CODE_PATTERN = re.compile(PLAN_CODE_PATTERN)


def _check(code: str | None = None, name: str | None = None) -> None:
    if code is not None and not CODE_PATTERN.fullmatch(code):
        raise InvalidInput(
            "A plan code is 1 to 50 lower-case letters, digits, - or _.", code="invalid_code"
        )
    if name is not None and not name.strip():
        raise InvalidInput("A plan needs a name.", code="invalid_name")


def create_plan(
    db: Database,
    actor: Actor,
    *,
    tenant_id: uuid.UUID,
    code: str,
    name: str,
    price_rials: int,
    period_days: int,
) -> Plan:
    _check(code, name)
    now = utcnow()
    with db.transaction() as session:
        plan = Plan(
            tenant_id=tenant_id,
            code=code,
            name=name.strip(),
            price_rials=price_rials,
            period_days=period_days,
            active=True,
            created_at=now,
            updated_at=now,
        )
        taken = Conflict("This tenant already has a plan with that code.", code="plan_code_taken")
        flush_unique(session, lambda: session.add(plan), taken)
        append_event(
            session,
            action="plan.created",
            actor=actor,
            tenant_id=tenant_id,
            target_type="plan",
            target_id=plan.id,
            data={"code": code, "price_rials": price_rials, "period_days": period_days},
        )
    return plan


def update_plan(
    db: Database,
    actor: Actor,
    *,
    tenant_id: uuid.UUID,
    plan_id: uuid.UUID,
    name: str | None = None,
    price_rials: int | None = None,
    period_days: int | None = None,
    active: bool | None = None,
) -> Plan:
    """Edit, retire (active=False) or bring back a plan. Payments already started keep
    the price they were started with."""
    _check(name=name)
    with db.transaction() as session:
        plan = lock_row(
            session, Plan, Plan.id == plan_id, Plan.tenant_id == tenant_id, missing="No such plan."
        )
        changes = {
            field: value
            for field, value in (
                ("name", name.strip() if name else None),
                ("price_rials", price_rials),
                ("period_days", period_days),
                ("active", active),
            )
            if value is not None and getattr(plan, field) != value
        }
        if not changes:
            return plan
        before = {field: getattr(plan, field) for field in changes}
        for field, value in changes.items():
            setattr(plan, field, value)
        plan.updated_at = utcnow()
        action = "plan.updated"
        if changes.get("active") is False:
            action = "plan.retired"
        append_event(
            session,
            action=action,
            actor=actor,
            tenant_id=tenant_id,
            target_type="plan",
            target_id=plan.id,
            data={"from": before, "to": changes},
        )
    return plan


def list_plans(db: Database, tenant_id: uuid.UUID, *, include_retired: bool) -> Sequence[Plan]:
    with db.read() as session:
        query = (
            select(Plan).where(Plan.tenant_id == tenant_id).order_by(Plan.price_rials, Plan.code)
        )
        if not include_retired:
            query = query.where(Plan.active.is_(True))
        return session.scalars(query).all()


def get_plan(db: Database, tenant_id: uuid.UUID, plan_id: uuid.UUID) -> Plan:
    """One of the tenant's plans; another tenant's is unknown here."""
    with db.read() as session:
        plan = session.scalars(
            select(Plan).where(Plan.id == plan_id, Plan.tenant_id == tenant_id)
        ).one_or_none()
        if plan is None:
            raise NotFound("No such plan.")
        return plan


def plan_ids_by_code(
    session: Session, tenant_id: uuid.UUID, codes: Sequence[str]
) -> dict[str, uuid.UUID]:
    """The tenant's plans with these codes (retired ones included), by code."""
    rows = session.execute(
        select(Plan.code, Plan.id).where(Plan.tenant_id == tenant_id, Plan.code.in_(codes))
    )
    return {row.code: row.id for row in rows}
