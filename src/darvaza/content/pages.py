"""Content's console pages: a customer's downloads, and for a tenant's owners and managers
their items (upload with progress, edit, publish, archive, replace the file, revoke links)
and the download log."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from darvaza.billing import service as billing
from darvaza.console.forms import FormFields, FormLists, FormState, check_form, form_body
from darvaza.console.nav import NavEntry
from darvaza.console.render import Pages, page_refusals, see_other
from darvaza.content import service
from darvaza.content.routes import (
    ARCHIVED,
    ReplacementFields,
    StorageDep,
    UploadFields,
    multipart_body,
    plan_codes,
    receive,
)
from darvaza.content.schemas import ContentChangeIn
from darvaza.errors import N_, DarvazaError
from darvaza.http import PartsDep, client_ip
from darvaza.params import TimeCursor
from darvaza.security.policy import TENANT_CUSTOMER, TENANT_STAFF, Access, Requires

router = APIRouter(tags=["console"])
pages = Pages(Path(__file__).parent / "templates")
CustomerPage = Annotated[Access, Requires(TENANT_CUSTOMER.for_pages())]
StaffPage = Annotated[Access, Requires(TENANT_STAFF.for_pages())]
MANAGE = "/console/t/{tenant}/manage"
# Page routes that take a file (they get the upload limit, not the ordinary body limit).
UPLOAD_PAGES = (MANAGE + "/content", MANAGE + "/content/{item_id}/file")

NAV = [
    NavEntry(N_("Tenant"), N_("Content"), MANAGE + "/content", TENANT_STAFF, 30),
    NavEntry(N_("Tenant"), N_("Download log"), MANAGE + "/downloads", TENANT_STAFF, 31),
]


# --- A customer's downloads -----------------------------------------------------------------


@router.get("/console/t/{tenant}/downloads", response_class=HTMLResponse)
def downloads_page(
    request: Request, access: CustomerPage, parts: PartsDep, cursor: TimeCursor = None
) -> HTMLResponse:
    """The tenant's published items; the ones the person's subscription unlocks have a
    download button."""
    page = service.list_items(
        parts.db, access.tenant_id, user_id=access.user.user_id, published_only=True,
        limit=50, cursor=cursor,
    )  # fmt: skip
    return pages.render(request, access, "downloads.html", {"tenant": access.tenant, "page": page})


@router.post(
    "/console/t/{tenant}/downloads/{item_id:uuid}",
    status_code=303,
    response_class=RedirectResponse,
    responses=page_refusals(
        _403="Your subscription does not unlock this item.", _404="No such published item."
    ),
)
def download(
    item_id: uuid.UUID, request: Request, access: CustomerPage, parts: PartsDep
) -> Response:
    """A short-lived link to the file, and on to it."""
    issued = service.issue_download_token(
        parts.db, access.user.actor(access.tenant_id), tenant_id=access.tenant_id,
        item_id=item_id, user_id=access.user.user_id,
        ttl=timedelta(seconds=parts.settings.download_token_ttl_seconds),
        max_uses=parts.settings.download_token_max_uses, ip=client_ip(request),
    )  # fmt: skip
    return see_other(f"/api/v1/downloads/{issued.token}")


# --- A tenant's items ----------------------------------------------------------------------


def _items(
    request: Request, access: Access, parts: PartsDep, *, cursor: str | None = None,
    form: FormState | None = None, status_code: int = 200,
) -> HTMLResponse:  # fmt: skip
    page = service.list_items(
        parts.db, access.tenant_id, user_id=None, published_only=False, limit=50, cursor=cursor
    )
    return pages.render(
        request, access, "manage_content.html",
        {"tenant": access.tenant, "page": page, "form": form,
         "max_bytes": parts.settings.content_max_upload_bytes},
        status_code=status_code,
    )  # fmt: skip


@router.get(MANAGE + "/content", response_class=HTMLResponse)
def items_page(
    request: Request, access: StaffPage, parts: PartsDep, cursor: TimeCursor = None
) -> HTMLResponse:
    return _items(request, access, parts, cursor=cursor)


@router.post(
    MANAGE + "/content",
    status_code=303,
    response_class=RedirectResponse,
    openapi_extra=multipart_body(UploadFields),
    responses=page_refusals(
        _404="A plan code names no plan of the tenant (the form again).",
        _413="The file is larger than the upload limit.",
        _422="The form again, with what is wrong.",
    ),
)
def upload(request: Request, access: StaffPage, parts: PartsDep, storage: StorageDep) -> Response:
    """Upload a file as a draft item, then its page."""
    try:
        received = receive(request, parts, storage, UploadFields)
        item = service.create_item(
            parts.db, storage, access.user.actor(access.tenant_id), tenant_id=access.tenant_id,
            title=received.form.title, description=received.form.description,
            unlocked_by=received.form.unlocked_by,
            plan_codes=plan_codes(received.form.plan_codes), stored=received.stored,
            filename=received.filename,
            content_type=service.clean_content_type(received.content_type),
        )  # fmt: skip
    except DarvazaError as exc:
        form = FormState()
        form.refuse(exc)
        return _items(request, access, parts, form=form, status_code=exc.status_code)
    return see_other(f"/console/t/{access.tenant_slug}/manage/content/{item.id}")


def _item(
    request: Request, access: Access, parts: PartsDep, item_id: uuid.UUID, *,
    form: FormState | None = None, status_code: int = 200, notice: str = "",
) -> HTMLResponse:  # fmt: skip
    detail = service.find_item(parts.db, access.tenant_id, item_id)
    plans = billing.list_plans(parts.db, access.tenant_id, include_retired=True)
    return pages.render(
        request, access, "manage_item.html",
        {"tenant": access.tenant, "item": detail.item, "chosen": detail.plan_ids,
         "plans": plans, "form": form, "notice": notice,
         "max_bytes": parts.settings.content_max_upload_bytes},
        status_code=status_code,
    )  # fmt: skip


@router.get(
    MANAGE + "/content/{item_id:uuid}",
    response_class=HTMLResponse,
    responses=page_refusals(_404="No such item at this tenant."),
)
def item_page(
    item_id: uuid.UUID, request: Request, access: StaffPage, parts: PartsDep,
    revoked: int | None = None,
) -> HTMLResponse:  # fmt: skip
    notice = N_("Every outstanding link of this item has ended.") if revoked is not None else ""
    return _item(request, access, parts, item_id, notice=notice)


@router.post(
    MANAGE + "/content/{item_id:uuid}",
    status_code=303,
    response_class=RedirectResponse,
    openapi_extra=form_body(ContentChangeIn),
    responses=page_refusals(
        _404="No such item at this tenant.",
        _409=ARCHIVED,
        _422="The form again, with what is wrong.",
    ),
)
def change_item(
    item_id: uuid.UUID, request: Request, access: StaffPage, parts: PartsDep, fields: FormFields,
    lists: FormLists,
) -> Response:  # fmt: skip
    # The plans are checkboxes: the form sends each chosen code as its own `plan_codes`.
    body, form = check_form(
        ContentChangeIn, fields, extra={"plan_codes": lists.get("plan_codes", [])}
    )
    if body is None:
        return _item(request, access, parts, item_id, form=form, status_code=422)
    try:
        service.change_item(
            parts.db, access.user.actor(access.tenant_id), tenant_id=access.tenant_id,
            item_id=item_id, title=body.title, description=body.description,
            unlocked_by=body.unlocked_by, plan_codes=body.plan_codes,
        )  # fmt: skip
    except DarvazaError as exc:
        form.refuse(exc)
        return _item(request, access, parts, item_id, form=form, status_code=exc.status_code)
    return see_other(f"/console/t/{access.tenant_slug}/manage/content/{item_id}")


@router.post(
    MANAGE + "/content/{item_id:uuid}/file",
    status_code=303,
    response_class=RedirectResponse,
    openapi_extra=multipart_body(ReplacementFields),
    responses=page_refusals(
        _404="No such item at this tenant.",
        _409=ARCHIVED,
        _413="The file is larger than the upload limit.",
        _422="No file was sent.",
    ),
)
def replace_file(
    item_id: uuid.UUID, request: Request, access: StaffPage, parts: PartsDep, storage: StorageDep
) -> Response:
    try:
        received = receive(request, parts, storage, ReplacementFields)
        service.replace_file(
            parts.db, storage, access.user.actor(access.tenant_id), tenant_id=access.tenant_id,
            item_id=item_id, stored=received.stored, filename=received.filename,
            content_type=service.clean_content_type(received.content_type),
        )  # fmt: skip
    except DarvazaError as exc:
        form = FormState()
        form.refuse(exc)
        return _item(request, access, parts, item_id, form=form, status_code=exc.status_code)
    return see_other(f"/console/t/{access.tenant_slug}/manage/content/{item_id}")


def _move(access: Access, parts: PartsDep, item_id: uuid.UUID, move: str) -> Response:
    service.move_item(
        parts.db, access.user.actor(access.tenant_id), tenant_id=access.tenant_id,
        item_id=item_id, move=move,
    )  # fmt: skip
    return see_other(f"/console/t/{access.tenant_slug}/manage/content/{item_id}")


@router.post(
    MANAGE + "/content/{item_id:uuid}/publish",
    status_code=303,
    response_class=RedirectResponse,
    responses=page_refusals(_404="No such item at this tenant.", _409="Only a draft is published."),
)
def publish(item_id: uuid.UUID, access: StaffPage, parts: PartsDep) -> Response:
    return _move(access, parts, item_id, "publish")


@router.post(
    MANAGE + "/content/{item_id:uuid}/archive",
    status_code=303,
    response_class=RedirectResponse,
    responses=page_refusals(
        _404="No such item at this tenant.", _409="Only a published item is archived."
    ),
)
def archive(item_id: uuid.UUID, access: StaffPage, parts: PartsDep) -> Response:
    return _move(access, parts, item_id, "archive")


@router.post(
    MANAGE + "/content/{item_id:uuid}/revoke-tokens",
    status_code=303,
    response_class=RedirectResponse,
    responses=page_refusals(_404="No such item at this tenant."),
)
def revoke_tokens(item_id: uuid.UUID, access: StaffPage, parts: PartsDep) -> Response:
    revoked = service.revoke_item_tokens(
        parts.db, access.user.actor(access.tenant_id), tenant_id=access.tenant_id, item_id=item_id
    )
    return see_other(f"/console/t/{access.tenant_slug}/manage/content/{item_id}?revoked={revoked}")


@router.get(MANAGE + "/downloads", response_class=HTMLResponse)
def download_log_page(request: Request, access: StaffPage, parts: PartsDep) -> HTMLResponse:
    """Who downloaded what, when, how much, and how it ended."""
    found = service.download_log(parts.db, access.tenant_id, limit=200)
    return pages.render(
        request, access, "download_log.html", {"tenant": access.tenant, "records": found}
    )
