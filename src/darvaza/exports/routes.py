"""The exports API: a tenant's staff (or a support admin under a grant covering the data)
ask for CSV exports of the tenant's payments, subscribers and download log; auditors and
platform admins, of the audit log. Everyone lists their own exports, takes a short-lived
link to a ready one, and the link delivers the file."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Request, status
from fastapi.responses import FileResponse

from darvaza.errors import refuses
from darvaza.exports import service
from darvaza.exports.schemas import ExportIn, ExportLinkOut, ExportOut, ExportPageOut
from darvaza.http import PartsDep, client_ip
from darvaza.params import PageLimit, TimeCursor
from darvaza.parts import Parts
from darvaza.security.policy import (
    AUDIT_READER,
    PUBLIC,
    SIGNED_IN,
    TENANT_STAFF,
    Access,
    Requires,
)

tenant_router = APIRouter(prefix="/api/v1/tenants/{tenant}/exports", tags=["exports"])
admin_router = APIRouter(prefix="/api/v1/admin/exports", tags=["exports"])
mine_router = APIRouter(prefix="/api/v1/me/exports", tags=["exports"])
download_router = APIRouter(prefix="/api/v1/exports", tags=["exports"])
routers = (tenant_router, admin_router, mine_router, download_router)
SignedIn = Annotated[Access, Requires(SIGNED_IN)]
NOT_FOUND = "No export of yours has this id."
ASKED = "Asked for: a job makes it; its state says when it is ready."


def _ask(
    parts: Parts, access: Access, dataset: str, body: ExportIn, tenant: bool = True
) -> ExportOut:
    caller = access.user
    tenant_id = access.tenant_id if tenant else None
    export = service.request_export(
        parts.db, caller.actor(tenant_id), user_id=caller.user_id, dataset=dataset,
        tenant_id=tenant_id, grant_id=caller.support_grant_id,
        since=body.since, until=body.until,
    )  # fmt: skip
    return ExportOut.of(export)


@tenant_router.post("/payments", status_code=status.HTTP_202_ACCEPTED, response_model=ExportOut,
                    description=ASKED)  # fmt: skip
def export_payments(
    body: ExportIn,
    access: Annotated[Access, Requires(TENANT_STAFF.under_grant("payments"))],
    parts: PartsDep,
) -> ExportOut:
    """The tenant's payments made in the period, as CSV."""
    return _ask(parts, access, "payments", body)


@tenant_router.post("/subscribers", status_code=status.HTTP_202_ACCEPTED,
                    response_model=ExportOut, description=ASKED)  # fmt: skip
def export_subscribers(
    body: ExportIn,
    access: Annotated[Access, Requires(TENANT_STAFF.under_grant("subscriptions"))],
    parts: PartsDep,
) -> ExportOut:
    """The tenant's subscriptions started in the period (any state), as CSV."""
    return _ask(parts, access, "subscribers", body)


@tenant_router.post("/downloads", status_code=status.HTTP_202_ACCEPTED,
                    response_model=ExportOut, description=ASKED)  # fmt: skip
def export_downloads(
    body: ExportIn,
    access: Annotated[Access, Requires(TENANT_STAFF.under_grant("downloads"))],
    parts: PartsDep,
) -> ExportOut:
    """The tenant's download log in the period, as CSV."""
    return _ask(parts, access, "downloads", body)


@admin_router.post("/audit", status_code=status.HTTP_202_ACCEPTED, response_model=ExportOut,
                   description=ASKED)  # fmt: skip
def export_audit(
    body: ExportIn, access: Annotated[Access, Requires(AUDIT_READER)], parts: PartsDep
) -> ExportOut:
    """The audit log's events in the period, as CSV."""
    return _ask(parts, access, "audit", body, tenant=False)


@mine_router.get("", response_model=ExportPageOut)
def my_exports(
    access: SignedIn, parts: PartsDep, limit: PageLimit = 50, cursor: TimeCursor = None
) -> ExportPageOut:
    """Your exports, newest first, with their state, size and expiry."""
    page = service.list_exports(parts.db, access.user.user_id, limit=limit, cursor=cursor)
    return ExportPageOut(items=[ExportOut.of(e) for e in page.items], next_cursor=page.next_cursor)


@mine_router.get("/{export_id}", response_model=ExportOut, responses=refuses(_404=NOT_FOUND))
def my_export(export_id: uuid.UUID, access: SignedIn, parts: PartsDep) -> ExportOut:
    """One of your exports."""
    return ExportOut.of(service.get_export(parts.db, export_id, access.user.user_id))


@mine_router.post(
    "/{export_id}/link",
    response_model=ExportLinkOut,
    responses=refuses(
        _404=NOT_FOUND,
        _409="Not ready (`export_not_ready`).",
    ),
)
def export_link(export_id: uuid.UUID, access: SignedIn, parts: PartsDep) -> ExportLinkOut:
    """A short-lived link to one of your ready exports; refused with 403
    `export_not_allowed` when you may no longer see its data."""
    link = service.issue_link(parts.db, parts.settings, export_id, access.user.user_id)
    url = f"{parts.settings.public_url.rstrip('/')}/api/v1/exports/{link.token}"
    return ExportLinkOut(url=url, expires_at=link.expires_at,
                         max_uses=parts.settings.export_link_uses)  # fmt: skip


@download_router.get(
    "/{token}",
    response_class=FileResponse,
    dependencies=[Requires(PUBLIC)],
    responses={
        200: {"content": {"text/csv": {}}, "description": "The export's file."},
        **refuses(
            _403="The one who asked may no longer see this data (`export_not_allowed`).",
            _404="No such link.",
            _410="The link expired or was used up, or the export is no longer kept.",
        ),
    },
)
def download_export(token: str, request: Request, parts: PartsDep) -> FileResponse:
    """The export's CSV file (the link is the credential)."""
    delivery = service.open_download(parts.db, parts.settings, token, client_ip(request))
    return FileResponse(
        delivery.path, media_type="text/csv; charset=utf-8", filename=delivery.filename,
        headers={"Cache-Control": "no-store"},
    )  # fmt: skip
