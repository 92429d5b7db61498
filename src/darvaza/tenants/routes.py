"""The tenants API: platform admins create tenants and assign owners; owners manage
managers; anyone may read a tenant's public face."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from darvaza.errors import SPENT_LINK, UNKNOWN_LINK, refuses
from darvaza.http import PartsDep
from darvaza.identity.service import MailedTokens
from darvaza.params import PageLimit
from darvaza.parts import Parts
from darvaza.security.policy import (
    PLATFORM_ADMIN,
    PUBLIC_TENANT,
    SIGNED_IN,
    TENANT_ADMIN,
    TENANT_DIRECTORY,
    TENANT_OWNER,
    TENANT_STAFF,
    Access,
    Requires,
)
from darvaza.security.roles import TenantRole
from darvaza.tenants import service
from darvaza.tenants.schemas import (
    InvitationAcceptIn,
    InvitationOut,
    MemberIn,
    MemberOut,
    PublicTenantOut,
    TenantCreateIn,
    TenantOut,
)

router = APIRouter(prefix="/api/v1/tenants/{tenant}", tags=["tenants"])
invitations_router = APIRouter(prefix="/api/v1/invitations", tags=["tenants"])
admin_router = APIRouter(prefix="/api/v1/admin/tenants", tags=["admin"])


@admin_router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=TenantOut,
    responses=refuses(_409="A tenant has this slug already."),
)
def create_tenant(
    body: TenantCreateIn, access: Annotated[Access, Requires(PLATFORM_ADMIN)], parts: PartsDep
) -> TenantOut:
    tenant = service.create_tenant(
        parts.db,
        access.user.actor(),
        slug=body.slug,
        name=body.name,
        owner_email=body.owner_email,
    )
    return TenantOut.model_validate(tenant)


@admin_router.get("", response_model=list[TenantOut], dependencies=[Requires(TENANT_DIRECTORY)])
def list_tenants(
    parts: PartsDep,
    limit: PageLimit = 50,
    after: Annotated[str | None, Query(max_length=63, description="slug to continue after")] = None,
) -> list[TenantOut]:
    return [
        TenantOut.model_validate(t)
        for t in service.list_tenants(parts.db, limit=limit, after=after)
    ]


TenantAdmin = Annotated[Access, Requires(TENANT_ADMIN)]


def _add_member(body: MemberIn, access: Access, parts: Parts, role: TenantRole) -> MemberOut:
    membership = service.add_member(
        parts.db,
        access.user.actor(access.tenant_id),
        tenant_id=access.tenant_id,
        email=body.email,
        role=role,
    )
    return MemberOut.of(membership)


@admin_router.post(
    "/{tenant}/managers",
    status_code=status.HTTP_201_CREATED,
    response_model=MemberOut,
    responses=refuses(_409="That person has this or a higher role in the tenant already."),
)
def add_manager(body: MemberIn, access: TenantAdmin, parts: PartsDep) -> MemberOut:
    """A platform admin makes an existing account a manager at once (onboarding a tenant);
    a tenant's owners invite instead."""
    return _add_member(body, access, parts, TenantRole.MANAGER)


@admin_router.post(
    "/{tenant}/owners",
    status_code=status.HTTP_201_CREATED,
    response_model=MemberOut,
    responses=refuses(_409="That person has this or a higher role in the tenant already."),
)
def add_owner(body: MemberIn, access: TenantAdmin, parts: PartsDep) -> MemberOut:
    return _add_member(body, access, parts, TenantRole.OWNER)


@router.get("", response_model=PublicTenantOut)
def get_tenant(access: Annotated[Access, Requires(PUBLIC_TENANT)]) -> PublicTenantOut:
    return PublicTenantOut.model_validate(access.tenant)


@router.get("/members", response_model=list[MemberOut])
def list_members(
    access: Annotated[Access, Requires(TENANT_STAFF.under_grant("members"))], parts: PartsDep
) -> list[MemberOut]:
    return [MemberOut.of(m) for m in service.list_members(parts.db, access.tenant_id)]


@router.post("/managers", status_code=status.HTTP_202_ACCEPTED, response_model=InvitationOut)
def invite_manager(
    body: MemberIn,
    access: Annotated[Access, Requires(TENANT_OWNER)],
    parts: PartsDep,
) -> InvitationOut:
    """Invite someone to manage the tenant: they get a link by email and become a manager
    when they accept it, signed in with that address. The answer is the same whether or
    not the address has an account."""
    service.invite_manager(
        parts.db,
        access.user.actor(access.tenant_id),
        tenant_id=access.tenant_id,
        email=body.email,
        invited_by=access.user.user_id,
        links=parts.get(MailedTokens).links,
        ttl=timedelta(days=parts.settings.invitation_ttl_days),
    )
    return InvitationOut(message="Invited: the link is on its way.")


@invitations_router.post(
    "/accept",
    response_model=MemberOut,
    responses=refuses(_404=UNKNOWN_LINK, _410=SPENT_LINK),
)
def accept_invitation(
    body: InvitationAcceptIn, access: Annotated[Access, Requires(SIGNED_IN)], parts: PartsDep
) -> MemberOut:
    """Accept an invitation sent to my address: I become a manager of its tenant."""
    membership = service.accept_invitation(
        parts.db, user_id=access.user.user_id, email=access.user.email, token=body.token
    )
    return MemberOut.of(membership)


@router.delete("/managers/{user_id:uuid}", status_code=status.HTTP_204_NO_CONTENT)
def remove_manager(
    user_id: uuid.UUID, access: Annotated[Access, Requires(TENANT_OWNER)], parts: PartsDep
) -> Response:
    service.remove_manager(
        parts.db, access.user.actor(access.tenant_id), tenant_id=access.tenant_id, user_id=user_id
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)
