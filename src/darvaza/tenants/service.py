"""Tenants and their people. Every query about a tenant's members is filtered by tenant
here, so an id from another tenant behaves as an unknown id whoever calls."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from darvaza.audit.service import append_event
from darvaza.clock import utcnow
from darvaza.db import Database, flush_unique, lock_row, lock_row_if_any, values_by_id
from darvaza.errors import Conflict, Forbidden, InvalidInput, NotFound
from darvaza.identity import service as identity
from darvaza.identity.service import (
    SessionPolicy,
    authenticate,
    normalise_email,
    require_user_by_email,
    revoke_credentials,
)
from darvaza.security.caller import Actor, Caller, TenantRef
from darvaza.security.grants import GrantScope
from darvaza.security.roles import STAFF_PLATFORM_ROLES, STAFF_TENANT_ROLES, TenantRole
from darvaza.tenants.models import Tenant, TenantMembership

SLUG_PATTERN = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
# Slugs that would read as something other than a tenant in a URL.
RESERVED_SLUGS = frozenset({"admin", "api", "console", "static", "me", "new", "www"})


def check_slug(slug: str) -> str:
    if not SLUG_PATTERN.match(slug) or "--" in slug:
        raise InvalidInput(
            "A slug is 1 to 63 lower-case letters, digits and single hyphens, "
            "starting and ending with a letter or digit.",
            code="invalid_slug",
        )
    if slug in RESERVED_SLUGS:
        raise InvalidInput("That slug is reserved.", code="invalid_slug")
    return slug


def get_tenant(session: Session, slug: str) -> Tenant:
    tenant = session.scalars(select(Tenant).where(Tenant.slug == slug)).one_or_none()
    if tenant is None:
        raise NotFound("No such tenant.")
    return tenant


class Gatekeeper:
    """What the access policy asks (`security.policy.Gatekeeper`): identity says who a
    token stands for; their roles in tenants, and the tenant a slug names, are ours.
    Both are read fresh on every request."""

    def __init__(self, db: Database, sessions: SessionPolicy) -> None:
        self.db = db
        self.sessions = sessions

    def authenticate(self, token: str) -> Caller | None:
        caller = authenticate(self.db, token, self.sessions)
        if caller is None:
            return None
        with self.db.read() as session:
            memberships = session.scalars(
                select(TenantMembership).where(TenantMembership.user_id == caller.user_id)
            ).all()
            roles = {m.tenant_id: TenantRole(m.role) for m in memberships}
            tenants = {m.tenant_id: _ref(m.tenant) for m in memberships}
        return replace(caller, tenant_roles=roles, tenants=tenants)

    def find_tenant(self, slug: str) -> TenantRef:
        return _ref(find_tenant(self.db, slug))

    def support_grant(
        self, caller: Caller, tenant_id: uuid.UUID, scope: GrantScope
    ) -> uuid.UUID | None:
        """None: tenants know no support grants (the support domain's gatekeeper does)."""
        del caller, tenant_id, scope
        return None


def _ref(tenant: Tenant) -> TenantRef:
    return TenantRef(tenant.id, tenant.slug, tenant.name)


def is_staff(session: Session, tenant_id: uuid.UUID, user_id: uuid.UUID) -> bool:
    """One of the people who see everything the tenant has (`security.roles`' staff, the
    rule the `tenant_staff` policy applies to a caller)."""
    member = session.scalar(
        select(TenantMembership.id).where(
            TenantMembership.tenant_id == tenant_id,
            TenantMembership.user_id == user_id,
            TenantMembership.role.in_([role.value for role in STAFF_TENANT_ROLES]),
        )
    )
    return member is not None or identity.platform_role_of(session, user_id) in (
        STAFF_PLATFORM_ROLES
    )


def is_owner(session: Session, tenant_id: uuid.UUID, user_id: uuid.UUID) -> bool:
    return (
        session.scalar(
            select(TenantMembership.id).where(
                TenantMembership.tenant_id == tenant_id,
                TenantMembership.user_id == user_id,
                TenantMembership.role == TenantRole.OWNER.value,
            )
        )
        is not None
    )


def owner_emails(session: Session, tenant_id: uuid.UUID) -> list[str]:
    """The addresses of the tenant's owners (who decide about support access)."""
    return owner_emails_of(session, [tenant_id])


def owner_emails_of(
    session: Session, tenant_ids: Iterable[uuid.UUID] | None, *, limit: int = 2_000
) -> list[str]:
    """The addresses of these tenants' owners (None: every tenant's), each once."""
    owners = select(TenantMembership.user_id).where(TenantMembership.role == TenantRole.OWNER.value)
    if tenant_ids is not None:
        owners = owners.where(TenantMembership.tenant_id.in_(list(tenant_ids)))
    found = session.scalars(owners.distinct().limit(limit)).all()
    return sorted(identity.emails_by_id(session, found).values())


def tenant_id_of(session: Session, slug: str) -> uuid.UUID | None:
    return session.scalar(select(Tenant.id).where(Tenant.slug == slug))


def slugs_by_id(session: Session, tenant_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, str]:
    return values_by_id(session, Tenant.id, Tenant.slug, tenant_ids)


def refs_by_id(db: Database, tenant_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, TenantRef]:
    """The named tenants' slugs and names (for showing what someone's rows belong to)."""
    wanted = set(tenant_ids)
    if not wanted:
        return {}
    with db.read() as session:
        found = session.scalars(select(Tenant).where(Tenant.id.in_(wanted))).all()
        return {tenant.id: _ref(tenant) for tenant in found}


def get_tenant_by_id(session: Session, tenant_id: uuid.UUID) -> Tenant:
    tenant = session.get(Tenant, tenant_id)
    if tenant is None:
        raise NotFound("No such tenant.")
    return tenant


def find_tenant(db: Database, slug: str) -> Tenant:
    with db.read() as session:
        return get_tenant(session, slug)


def create_tenant(
    db: Database, actor: Actor, *, slug: str, name: str, owner_email: str, synthetic: bool = False
) -> Tenant:
    """A new tenant with its first owner. A `synthetic` one holds what the smoke checks
    make against a live instance, marked so that nobody takes it for a customer's."""
    slug = check_slug(slug)
    name = name.strip()
    if not name:
        raise InvalidInput("A tenant needs a name.", code="invalid_name")
    now = utcnow()
    with db.transaction() as session:
        owner = require_user_by_email(session, owner_email)
        tenant = Tenant(slug=slug, name=name, created_at=now, synthetic=synthetic)
        taken = Conflict("That slug is taken.", code="slug_taken")
        flush_unique(session, lambda: session.add(tenant), taken)
        session.add(
            TenantMembership(
                tenant_id=tenant.id, user_id=owner.id, role=TenantRole.OWNER.value, created_at=now
            )
        )
        session.flush()
        append_event(
            session,
            action="tenant.created",
            actor=actor,
            tenant_id=tenant.id,
            target_type="tenant",
            target_id=tenant.id,
            data={"slug": slug, "name": name, "owner": owner.email, "synthetic": synthetic},
        )
    return tenant


def list_tenants(db: Database, *, limit: int, after: str | None) -> Sequence[Tenant]:
    with db.read() as session:
        query = select(Tenant).order_by(Tenant.slug).limit(limit)
        if after:
            query = query.where(Tenant.slug > after)
        return session.scalars(query).all()


def list_members(db: Database, tenant_id: uuid.UUID) -> Sequence[TenantMembership]:
    with db.read() as session:
        return session.scalars(
            select(TenantMembership)
            .where(TenantMembership.tenant_id == tenant_id)
            .order_by(TenantMembership.role.desc(), TenantMembership.created_at)
        ).all()


def memberships_of(db: Database, user_id: uuid.UUID) -> Sequence[TenantMembership]:
    """The tenants someone is an owner or a manager of."""
    with db.read() as session:
        return session.scalars(
            select(TenantMembership)
            .where(TenantMembership.user_id == user_id)
            .order_by(TenantMembership.created_at)
        ).all()


def add_member(
    db: Database, actor: Actor, *, tenant_id: uuid.UUID, email: str, role: TenantRole
) -> TenantMembership:
    """Make someone an owner or a manager of this tenant.

    Promoting a manager to owner is a role change: their sessions end. Anything else that
    is already so (an owner made manager, a member added twice) is a conflict; demoting an
    owner is done by removing them.
    """
    now = utcnow()
    with db.transaction() as session:
        user = require_user_by_email(session, email)
        membership = lock_row_if_any(
            session,
            TenantMembership,
            TenantMembership.tenant_id == tenant_id,
            TenantMembership.user_id == user.id,
        )
        if membership is not None:
            if not (membership.role == TenantRole.MANAGER and role is TenantRole.OWNER):
                raise Conflict(
                    f"That person is already a {membership.role} of this tenant.",
                    code="already_member",
                )
            membership.role = role.value
            revoked = revoke_credentials(session, user.id, now=now, reason="role_changed")
            action, data = "tenant.member_role_changed", {"from": "manager", "to": "owner"}
            data["credentials_revoked"] = revoked  # type: ignore[assignment]
        else:
            membership = TenantMembership(
                tenant_id=tenant_id, user=user, role=role.value, created_at=now
            )
            session.add(membership)
            action, data = "tenant.member_added", {"role": role.value}
        session.flush()
        append_event(
            session,
            action=action,
            actor=actor,
            tenant_id=tenant_id,
            target_type="user",
            target_id=user.id,
            data={"email": user.email, **data},
        )
    return membership


def invite_manager(
    db: Database,
    actor: Actor,
    *,
    tenant_id: uuid.UUID,
    email: str,
    invited_by: uuid.UUID,
    links: identity.Links,
    ttl: timedelta,
) -> None:
    """Invite someone to manage this tenant: a link goes to the address, and they become a
    manager only when they accept it signed in with that address. Nothing here looks at
    whether the address has an account, so the answer cannot tell."""
    email = normalise_email(email)
    now = utcnow()
    with db.transaction() as session:
        tenant = session.get(Tenant, tenant_id)
        if tenant is None:
            raise NotFound("No such tenant.")
        secret = identity.mail_link(
            session,
            links,
            purpose=identity.TENANT_INVITATION,
            email=email,
            tenant_id=tenant_id,
            role=TenantRole.MANAGER.value,
            created_by=invited_by,
            ttl=ttl,
            now=now,
            path="/console/invitations",
            subject=f"You are invited to manage {tenant.name}",
            text=(
                f"You are invited to manage {tenant.name} on Darvaza. Sign in (or sign up) "
                "with this address, then accept:\n\n{link}\n\n"
                f"The invitation works once, for {ttl.days} days. If you did not expect "
                "it, ignore this."
            ),
        )
        append_event(
            session,
            action="tenant.manager_invited",
            actor=actor,
            tenant_id=tenant_id,
            target_type="invitation",
            target_id=uuid.UUID(secret.ident),
            data={"email": email},
        )


def accept_invitation(
    db: Database, *, user_id: uuid.UUID, email: str, token: str
) -> TenantMembership:
    """The invited person accepts, signed in with the invited address."""
    now = utcnow()
    with db.transaction() as session:
        row = identity.find_one_time_token(
            session, purpose=identity.TENANT_INVITATION, token=token, now=now
        )
        if row.email != email:
            raise Forbidden(
                "This invitation is for another address: sign in with that one.",
                code="invitation_for_someone_else",
            )
        assert row.tenant_id is not None  # noqa: S101 (invitations always name a tenant)
        membership = lock_row_if_any(
            session,
            TenantMembership,
            TenantMembership.tenant_id == row.tenant_id,
            TenantMembership.user_id == user_id,
        )
        identity.spend(row, now)
        if membership is not None:
            return membership  # already one of its people: nothing to change
        membership = TenantMembership(
            tenant_id=row.tenant_id, user_id=user_id, role=row.role or "manager", created_at=now
        )
        session.add(membership)
        session.flush()
        session.refresh(membership)
        append_event(
            session,
            action="tenant.member_added",
            actor=Actor.user(user_id, None),
            tenant_id=row.tenant_id,
            target_type="user",
            target_id=user_id,
            data={"email": email, "role": membership.role, "invitation": str(row.id)},
        )
        return membership


def remove_manager(db: Database, actor: Actor, *, tenant_id: uuid.UUID, user_id: uuid.UUID) -> None:
    """Remove a manager of this tenant: their rights here end at once (roles are read on
    every request). Their sessions stay: a tenant ends nothing beyond its own walls."""
    with db.transaction() as session:
        membership = lock_row(
            session,
            TenantMembership,
            TenantMembership.tenant_id == tenant_id,
            TenantMembership.user_id == user_id,
            TenantMembership.role == TenantRole.MANAGER.value,
            missing="No such manager in this tenant.",
        )
        session.delete(membership)
        append_event(
            session,
            action="tenant.member_removed",
            actor=actor,
            tenant_id=tenant_id,
            target_type="user",
            target_id=user_id,
            data={"role": TenantRole.MANAGER.value},
        )


def set_payment_gateway(
    db: Database, actor: Actor, *, tenant_id: uuid.UUID, gateway: str | None
) -> Tenant:
    """Send this tenant's customers through `gateway` (None: the platform default)."""
    with db.transaction() as session:
        tenant = lock_row(session, Tenant, Tenant.id == tenant_id, missing="No such tenant.")
        before = tenant.payment_gateway
        if before != gateway:
            tenant.payment_gateway = gateway
            append_event(
                session,
                action="tenant.payment_gateway_changed",
                actor=actor,
                tenant_id=tenant_id,
                target_type="tenant",
                target_id=tenant_id,
                data={"from": before, "to": gateway},
            )
    return tenant
