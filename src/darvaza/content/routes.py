"""The content API: upload and manage items, issue download tokens, deliver files."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Annotated, Any, TypeVar

import anyio.from_thread
from fastapi import APIRouter, Header, Request, status
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel, Field

from darvaza.content import service
from darvaza.content.schemas import (
    TITLE_PATTERN,
    ContentChangeIn,
    ContentOut,
    ContentPageOut,
    DownloadRecordOut,
    DownloadTokenOut,
    ListedContentOut,
    RevokedTokensOut,
    StaffContentPageOut,
)
from darvaza.errors import refuses
from darvaza.http import PartsDep, client_ip, part
from darvaza.params import PageLimit, TimeCursor
from darvaza.parts import Parts
from darvaza.security.policy import PUBLIC, TENANT_CUSTOMER, TENANT_STAFF, Access, Requires

tenant_router = APIRouter(prefix="/api/v1/tenants/{tenant}/content", tags=["content"])
downloads_router = APIRouter(tags=["content"])
routers = (tenant_router, downloads_router)
StorageDep = Annotated[service.Storage, part(service.Storage)]
# Routes that take a file: they get DARVAZA_CONTENT_MAX_UPLOAD_BYTES instead of the
# ordinary body limit.
UPLOAD_ROUTES = (
    "/api/v1/tenants/{tenant}/content",
    "/api/v1/tenants/{tenant}/content/{item_id}/file",
)

FormT = TypeVar("FormT", bound=BaseModel)


# The tenant's staff; and a support admin under a grant that covers the route.
Reader = Annotated[Access, Requires(TENANT_STAFF.under_grant("content"))]
Creator = Annotated[Access, Requires(TENANT_STAFF.under_grant("content", "content.create"))]
Uploader = Annotated[Access, Requires(TENANT_STAFF.under_grant("content", "content.upload"))]
Changer = Annotated[Access, Requires(TENANT_STAFF.under_grant("content", "content.update"))]
Publisher = Annotated[Access, Requires(TENANT_STAFF.under_grant("content", "content.publish"))]
Archiver = Annotated[Access, Requires(TENANT_STAFF.under_grant("content", "content.archive"))]
TokenRevoker = Annotated[
    Access, Requires(TENANT_STAFF.under_grant("downloads", "downloads.revoke_tokens"))
]
DownloadsReader = Annotated[Access, Requires(TENANT_STAFF.under_grant("downloads"))]
Customer = Annotated[Access, Requires(TENANT_CUSTOMER)]


ARCHIVED = "Archived items cannot change."


class UploadFields(BaseModel):
    """The form fields of an upload, beside its `file`."""

    title: str = Field(min_length=1, max_length=200, pattern=TITLE_PATTERN)
    description: str = Field(default="", max_length=10_000)
    unlocked_by: str = Field(default="any_plan", max_length=20)
    plan_codes: str = Field(default="", max_length=2000, description="comma-separated")
    size: int | None = Field(default=None, ge=0, description="the file's size, if known")


class ReplacementFields(BaseModel):
    size: int | None = Field(default=None, ge=0, description="the file's size, if known")


def multipart_body(fields: type[BaseModel]) -> dict[str, Any]:
    """The OpenAPI request body of an upload route (it reads the body itself, after the
    access check, so FastAPI does not describe it)."""
    schema = fields.model_json_schema()
    # A form field is absent or a text; it cannot be null, whatever the model allows.
    for name, field in list(schema["properties"].items()):
        options = [o for o in field.get("anyOf", []) if o.get("type") != "null"]
        if len(options) == 1:
            kept = {k: v for k, v in field.items() if k not in ("anyOf", "default")}
            schema["properties"][name] = kept | options[0]
    schema["properties"] = {
        "file": {"type": "string", "format": "binary"},
        **schema["properties"],
    }
    schema["required"] = ["file", *schema.get("required", [])]
    return {
        "requestBody": {
            "required": True,
            "content": {"multipart/form-data": {"schema": schema}},
        }
    }


def request_body(request: Request) -> Iterator[bytes]:
    """The request's body, chunk by chunk, for a sync route (it runs in a worker thread,
    and pulls each chunk from the event loop as storage asks for it)."""
    stream = request.stream()

    async def next_chunk() -> bytes | None:
        try:
            return await anext(stream)
        except StopAsyncIteration:
            return None

    while (chunk := anyio.from_thread.run(next_chunk)) is not None:
        if chunk:
            yield chunk


def receive(
    request: Request, parts: Parts, storage: service.Storage, fields: type[FormT]
) -> service.UploadForm[FormT]:
    return service.receive_form(
        request_body(request),
        request.headers.get("content-type"),
        fields,
        storage=storage,
        max_bytes=parts.settings.content_max_upload_bytes,
        check_file=lambda stored, form: service.check_stored_file(
            storage, stored, getattr(form, "size", None)
        ),
    )


def plan_codes(raw: str) -> list[str]:
    return [code.strip() for code in raw.split(",") if code.strip()]


@tenant_router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=ContentOut,
    openapi_extra=multipart_body(UploadFields),
)
def upload(access: Creator, parts: PartsDep, storage: StorageDep, request: Request) -> ContentOut:
    """Upload a file as a draft item (multipart: `file`, `title`, ...), streamed into
    storage once the caller is known to be one of the tenant's people."""
    received = receive(request, parts, storage, UploadFields)
    form = received.form
    item = service.create_item(
        parts.db,
        storage,
        access.user.actor(access.tenant_id),
        tenant_id=access.tenant_id,
        title=form.title,
        description=form.description,
        unlocked_by=form.unlocked_by,
        plan_codes=plan_codes(form.plan_codes),
        stored=received.stored,
        filename=received.filename,
        content_type=service.clean_content_type(received.content_type),
    )
    return ContentOut.model_validate(item)


@tenant_router.put(
    "/{item_id:uuid}/file",
    response_model=ContentOut,
    openapi_extra=multipart_body(ReplacementFields),
    responses=refuses(_409=ARCHIVED),
)
def replace_file(
    item_id: uuid.UUID, access: Uploader, parts: PartsDep, storage: StorageDep, request: Request
) -> ContentOut:
    """Replace the item's file (multipart: `file`, `size?`)."""
    received = receive(request, parts, storage, ReplacementFields)
    item = service.replace_file(
        parts.db,
        storage,
        access.user.actor(access.tenant_id),
        tenant_id=access.tenant_id,
        item_id=item_id,
        stored=received.stored,
        filename=received.filename,
        content_type=service.clean_content_type(received.content_type),
    )
    return ContentOut.model_validate(item)


@tenant_router.patch("/{item_id:uuid}", response_model=ContentOut, responses=refuses(_409=ARCHIVED))
def change(
    item_id: uuid.UUID, body: ContentChangeIn, access: Changer, parts: PartsDep
) -> ContentOut:
    item = service.change_item(
        parts.db,
        access.user.actor(access.tenant_id),
        tenant_id=access.tenant_id,
        item_id=item_id,
        title=body.title,
        description=body.description,
        unlocked_by=body.unlocked_by,
        plan_codes=body.plan_codes,
    )
    return ContentOut.model_validate(item)


@tenant_router.post(
    "/{item_id:uuid}/publish",
    response_model=ContentOut,
    responses=refuses(_409="Only a draft can be published (an archived item stays archived)."),
)
def publish(item_id: uuid.UUID, access: Publisher, parts: PartsDep) -> ContentOut:
    item = service.move_item(
        parts.db,
        access.user.actor(access.tenant_id),
        tenant_id=access.tenant_id,
        item_id=item_id,
        move="publish",
    )
    return ContentOut.model_validate(item)


@tenant_router.post(
    "/{item_id:uuid}/archive",
    response_model=ContentOut,
    responses=refuses(_409="Only a published item can be archived."),
)
def archive(item_id: uuid.UUID, access: Archiver, parts: PartsDep) -> ContentOut:
    item = service.move_item(
        parts.db,
        access.user.actor(access.tenant_id),
        tenant_id=access.tenant_id,
        item_id=item_id,
        move="archive",
    )
    return ContentOut.model_validate(item)


Cursor = TimeCursor


@tenant_router.get("", response_model=ContentPageOut)
def list_published(
    access: Customer, parts: PartsDep, limit: PageLimit = 50, cursor: Cursor = None
) -> ContentPageOut:
    """The tenant's published items, newest first, each saying whether the caller may
    download it; `next_cursor` pages on."""
    page = service.list_items(
        parts.db,
        access.tenant_id,
        user_id=access.user.user_id,
        published_only=True,
        limit=limit,
        cursor=cursor,
    )
    return ContentPageOut(
        items=[
            ListedContentOut(
                **ContentOut.model_validate(entry.item).model_dump(), entitled=entry.entitled
            )
            for entry in page.items
        ],
        next_cursor=page.next_cursor,
    )


@tenant_router.get("/all", response_model=StaffContentPageOut)
def list_all(
    access: Reader, parts: PartsDep, limit: PageLimit = 50, cursor: Cursor = None
) -> StaffContentPageOut:
    """Every item, drafts and archived ones included, newest first."""
    page = service.list_items(
        parts.db, access.tenant_id, user_id=None, published_only=False, limit=limit, cursor=cursor
    )
    return StaffContentPageOut(
        items=[ContentOut.model_validate(entry.item) for entry in page.items],
        next_cursor=page.next_cursor,
    )


@tenant_router.post(
    "/{item_id:uuid}/download-token",
    status_code=status.HTTP_201_CREATED,
    response_model=DownloadTokenOut,
    responses=refuses(_409="The item is a draft or archived (its staff are told; others get 404)."),
)
def download_token(
    item_id: uuid.UUID, request: Request, access: Customer, parts: PartsDep
) -> DownloadTokenOut:
    """A short-lived link to the file, for an entitled caller (403 `not_entitled` otherwise)."""
    issued = service.issue_download_token(
        parts.db,
        access.user.actor(access.tenant_id),
        tenant_id=access.tenant_id,
        item_id=item_id,
        user_id=access.user.user_id,
        ttl=timedelta(seconds=parts.settings.download_token_ttl_seconds),
        max_uses=parts.settings.download_token_max_uses,
        ip=client_ip(request),
    )
    url = f"{parts.settings.public_url.rstrip('/')}/api/v1/downloads/{issued.token}"
    return DownloadTokenOut(url=url, expires_at=issued.expires_at, max_uses=issued.max_uses)


@tenant_router.post("/{item_id:uuid}/revoke-tokens", response_model=RevokedTokensOut)
def revoke_tokens(item_id: uuid.UUID, access: TokenRevoker, parts: PartsDep) -> RevokedTokensOut:
    """End every outstanding download link of the item at once."""
    revoked = service.revoke_item_tokens(
        parts.db, access.user.actor(access.tenant_id), tenant_id=access.tenant_id, item_id=item_id
    )
    return RevokedTokensOut(revoked=revoked)


@downloads_router.get("/api/v1/tenants/{tenant}/downloads", response_model=list[DownloadRecordOut])
def download_log(
    access: DownloadsReader, parts: PartsDep, limit: PageLimit = 50
) -> list[DownloadRecordOut]:
    """Who downloaded what, when, how much, and how it ended."""
    return [
        DownloadRecordOut.model_validate(
            {**vars(record), "user_email": email, "content_title": title}
        )
        for record, email, title in service.download_log(parts.db, access.tenant_id, limit=limit)
    ]


_FILE = {"*/*": {"schema": {"type": "string", "format": "binary"}}}


@downloads_router.get(
    "/api/v1/downloads/{token}",
    dependencies=[Requires(PUBLIC)],
    response_class=Response,
    responses={
        200: {"description": "The whole file, in its own content type", "content": _FILE},
        206: {"description": "The byte range asked for (`Content-Range`)", "content": _FILE},
        **refuses(
            _410="The link was revoked, has expired or is used up, or the file is gone.",
            _416="The byte range is not in the file (`Content-Range: bytes */size`).",
        ),
    },
)
def download(
    token: str,
    request: Request,
    parts: PartsDep,
    storage: StorageDep,
    range_: Annotated[
        str | None, Header(alias="range", description="one byte range, to resume")
    ] = None,
    if_range: Annotated[str | None, Header(description="the ETag the range is valid for")] = None,
) -> Response:
    """The file, for the token's holder: whole, or one byte range (206) to resume."""
    ip = client_ip(request)
    grant = service.open_download(
        parts.db, token[:100], ip=ip, range_header=range_, if_range=if_range
    )
    settings = parts.settings
    sending = service.deliver(
        parts.db, storage, grant, ip=ip, offload=settings.download_offload,
        offload_prefix=settings.download_offload_prefix,
    )  # fmt: skip
    if sending.body is None:
        return Response(headers=sending.headers, media_type=sending.content_type)
    return StreamingResponse(
        sending.body, sending.status, headers=sending.headers, media_type=sending.content_type
    )
