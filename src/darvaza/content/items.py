"""Content items: upload, replace, publish, archive, and who is entitled to them.

Every query is filtered by tenant here, so another tenant's item id is an unknown id.
"""

from __future__ import annotations

import unicodedata
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select, tuple_
from sqlalchemy.orm import Session

from darvaza.audit.service import append_event
from darvaza.billing import service as billing
from darvaza.clock import utcnow
from darvaza.content.models import CONTENT_ITEM, ContentItem, ContentPlan
from darvaza.content.storage import Storage, StoredFile, TooLarge
from darvaza.db import Database, lock_row
from darvaza.errors import Conflict, InvalidInput, NotFound, PayloadTooLarge
from darvaza.paging import Page, page_of, read_time_cursor, time_cursor
from darvaza.security.caller import Actor
from darvaza.tenants import service as tenants

MAX_FILENAME = 255
UNLOCKS = ("any_plan", "chosen_plans")
DEFAULT_CONTENT_TYPE = "application/octet-stream"


def clean_filename(raw: str | None) -> str:
    """The uploader's file name, kept only as metadata. Directory parts are dropped (some
    browsers send a full path); names with NUL, control or bidirectional-override
    characters, or longer than 255 characters, are refused."""
    name = (raw or "").replace("\\", "/").rsplit("/", 1)[-1].strip()
    if not name or name in (".", ".."):
        raise InvalidInput("The file needs a name.", code="invalid_filename")
    if len(name) > MAX_FILENAME:
        raise InvalidInput(
            f"File names are at most {MAX_FILENAME} characters.", code="invalid_filename"
        )
    if any(unicodedata.category(char) in ("Cc", "Cf", "Cs") for char in name):
        raise InvalidInput(
            "The file name holds control or text-direction characters.", code="invalid_filename"
        )
    return unicodedata.normalize("NFC", name)


def clean_content_type(raw: str | None) -> str:
    value = (raw or "").split(";")[0].strip().lower()
    if not value or len(value) > 100 or "/" not in value or not value.isascii():
        return DEFAULT_CONTENT_TYPE
    return value


def store_upload(
    storage: Storage, chunks: Iterable[bytes], *, max_bytes: int, declared_size: int | None
) -> StoredFile:
    """Stream an upload into storage, hashing as it goes; refuse an empty file, one past
    the limit, or one whose declared size was not the truth (nothing is kept)."""
    try:
        stored = storage.write(chunks, max_bytes=max_bytes)
    except TooLarge:
        raise PayloadTooLarge(f"The file is larger than the limit of {max_bytes} bytes.") from None
    check_stored_file(storage, stored, declared_size)
    return stored


def check_stored_file(storage: Storage, stored: StoredFile, declared_size: int | None) -> None:
    """Refuse (and delete) an empty file, or one whose declared size was not the truth."""
    problem = None
    if stored.size == 0:
        problem = InvalidInput("The file is empty.", code="empty_file")
    elif declared_size is not None and declared_size != stored.size:
        problem = InvalidInput(
            f"The declared size ({declared_size}) is not the file's ({stored.size}).",
            code="size_mismatch",
        )
    if problem is not None:
        storage.delete(stored.key)
        raise problem


def _plans_by_code(session: Session, tenant_id: uuid.UUID, codes: Sequence[str]) -> list[uuid.UUID]:
    found = billing.plan_ids_by_code(session, tenant_id, codes)
    missing = sorted(set(codes) - set(found))
    if missing:
        raise InvalidInput(f"No such plan here: {', '.join(missing)}.", code="unknown_plan")
    return list(found.values())


def _check_unlock(unlocked_by: str, plan_codes: Sequence[str]) -> None:
    if unlocked_by not in UNLOCKS:
        raise InvalidInput("unlocked_by is any_plan or chosen_plans.", code="invalid_unlock")
    if unlocked_by == "chosen_plans" and not plan_codes:
        raise InvalidInput("Name at least one plan that unlocks it.", code="invalid_unlock")


def _set_plans(session: Session, item: ContentItem, plan_ids: Sequence[uuid.UUID]) -> None:
    session.execute(delete(ContentPlan).where(ContentPlan.content_id == item.id))
    session.add_all(ContentPlan(content_id=item.id, plan_id=plan_id) for plan_id in plan_ids)


def create_item(
    db: Database,
    storage: Storage,
    actor: Actor,
    *,
    tenant_id: uuid.UUID,
    title: str,
    description: str,
    unlocked_by: str,
    plan_codes: Sequence[str],
    stored: StoredFile,
    filename: str,
    content_type: str,
) -> ContentItem:
    """Record an uploaded file as a draft. If recording fails, the file goes too."""
    title = title.strip()
    try:
        if not title:
            raise InvalidInput("An item needs a title.", code="invalid_title")
        _check_unlock(unlocked_by, plan_codes)
        now = utcnow()
        with db.transaction() as session:
            plans = _plans_by_code(session, tenant_id, plan_codes)
            item = ContentItem(
                tenant_id=tenant_id,
                title=title,
                description=description,
                state="draft",
                unlocked_by=unlocked_by,
                storage_key=stored.key,
                filename=filename,
                content_type=content_type,
                size_bytes=stored.size,
                sha256=stored.sha256,
                created_at=now,
                updated_at=now,
            )
            session.add(item)
            session.flush()
            _set_plans(session, item, plans)
            append_event(
                session,
                action="content.uploaded",
                actor=actor,
                tenant_id=tenant_id,
                target_type="content",
                target_id=item.id,
                data={
                    "title": title,
                    "filename": filename,
                    "size_bytes": stored.size,
                    "sha256": stored.sha256,
                },
            )
    except BaseException:
        storage.delete(stored.key)
        raise
    return item


def _lock_item(session: Session, tenant_id: uuid.UUID, item_id: uuid.UUID) -> ContentItem:
    return lock_row(
        session,
        ContentItem,
        ContentItem.id == item_id,
        ContentItem.tenant_id == tenant_id,
        missing="No such content item.",
    )


def replace_file(
    db: Database,
    storage: Storage,
    actor: Actor,
    *,
    tenant_id: uuid.UUID,
    item_id: uuid.UUID,
    stored: StoredFile,
    filename: str,
    content_type: str,
) -> ContentItem:
    """Swap an item's file; the old one is deleted once the swap is committed."""
    try:
        with db.transaction() as session:
            item = _lock_item(session, tenant_id, item_id)
            if item.state == "archived":
                raise Conflict("Archived items cannot change.", code="archived")
            old_key = item.storage_key
            item.storage_key, item.filename, item.content_type = stored.key, filename, content_type
            item.size_bytes, item.sha256, item.updated_at = stored.size, stored.sha256, utcnow()
            append_event(
                session,
                action="content.replaced",
                actor=actor,
                tenant_id=tenant_id,
                target_type="content",
                target_id=item.id,
                data={"filename": filename, "size_bytes": stored.size, "sha256": stored.sha256},
            )
    except BaseException:
        storage.delete(stored.key)
        raise
    storage.delete(old_key)
    return item


def change_item(
    db: Database,
    actor: Actor,
    *,
    tenant_id: uuid.UUID,
    item_id: uuid.UUID,
    title: str | None,
    description: str | None,
    unlocked_by: str | None,
    plan_codes: Sequence[str] | None,
) -> ContentItem:
    with db.transaction() as session:
        item = _lock_item(session, tenant_id, item_id)
        if title is not None:
            if not title.strip():
                raise InvalidInput("An item needs a title.", code="invalid_title")
            item.title = title.strip()
        if description is not None:
            item.description = description
        if unlocked_by is not None or plan_codes is not None:
            unlock = unlocked_by or item.unlocked_by
            codes = list(plan_codes or [])
            _check_unlock(unlock, codes)
            item.unlocked_by = unlock
            _set_plans(session, item, _plans_by_code(session, tenant_id, codes))
        item.updated_at = utcnow()
        append_event(
            session,
            action="content.changed",
            actor=actor,
            tenant_id=tenant_id,
            target_type="content",
            target_id=item.id,
            data={"title": title, "unlocked_by": unlocked_by, "plans": plan_codes},
        )
    return item


# What each move asks for: the state it leads to (`CONTENT_ITEM` says from where).
_MOVES = {"publish": "published", "archive": "archived"}


def move_item(
    db: Database, actor: Actor, *, tenant_id: uuid.UUID, item_id: uuid.UUID, move: str
) -> ContentItem:
    """draft → published → archived, and nothing else."""
    target = _MOVES[move]
    with db.transaction() as session:
        item = _lock_item(session, tenant_id, item_id)
        if item.state == target:
            return item
        CONTENT_ITEM.move(item, target)
        item.updated_at = utcnow()
        if target == "published":
            item.published_at = item.updated_at
        append_event(
            session,
            action=f"content.{target}",
            actor=actor,
            tenant_id=tenant_id,
            target_type="content",
            target_id=item.id,
        )
    return item


def get_item(session: Session, tenant_id: uuid.UUID, item_id: uuid.UUID) -> ContentItem:
    item = session.scalars(
        select(ContentItem).where(ContentItem.id == item_id, ContentItem.tenant_id == tenant_id)
    ).one_or_none()
    if item is None:
        raise NotFound("No such content item.")
    return item


@dataclass(frozen=True)
class ItemDetail:
    item: ContentItem
    # The plans that unlock it, when it names some (`unlocked_by == "chosen_plans"`).
    plan_ids: frozenset[uuid.UUID]


def find_item(db: Database, tenant_id: uuid.UUID, item_id: uuid.UUID) -> ItemDetail:
    """One of the tenant's items, for its staff; another tenant's is unknown here."""
    with db.read() as session:
        item = get_item(session, tenant_id, item_id)
        return ItemDetail(item, frozenset(_chosen_plans(session, [item])[item.id]))


@dataclass(frozen=True)
class CallerStanding:
    """What entitles a caller to a tenant's items: being one of its people (or a platform
    admin), who may always see what the tenant publishes, or active subscriptions."""

    staff: bool
    active_plan_ids: frozenset[uuid.UUID]

    def unlocks(self, item: ContentItem, chosen_plan_ids: Iterable[uuid.UUID]) -> bool:
        if self.staff:
            return True
        if item.unlocked_by == "chosen_plans":
            return not self.active_plan_ids.isdisjoint(chosen_plan_ids)
        return bool(self.active_plan_ids)


def caller_standing(
    session: Session, tenant_id: uuid.UUID, user_id: uuid.UUID, now: datetime
) -> CallerStanding:
    """The caller's standing in the tenant, right now: tenants says whether they are its
    staff, billing which of its plans they hold."""
    if tenants.is_staff(session, tenant_id, user_id):
        return CallerStanding(staff=True, active_plan_ids=frozenset())
    return CallerStanding(
        staff=False, active_plan_ids=billing.active_plan_ids(session, tenant_id, user_id, now)
    )


def _chosen_plans(
    session: Session, items: Sequence[ContentItem]
) -> dict[uuid.UUID, set[uuid.UUID]]:
    chosen: dict[uuid.UUID, set[uuid.UUID]] = {item.id: set() for item in items}
    wanted = [item.id for item in items if item.unlocked_by == "chosen_plans"]
    if wanted:
        for content_id, plan_id in session.execute(
            select(ContentPlan.content_id, ContentPlan.plan_id).where(
                ContentPlan.content_id.in_(wanted)
            )
        ):
            chosen[content_id].add(plan_id)
    return chosen


def entitled(
    session: Session,
    item: ContentItem,
    user_id: uuid.UUID,
    now: datetime,
    standing: CallerStanding | None = None,
) -> bool:
    """The membership guard for one item: an active subscription (to one of the chosen
    plans, when the item names some) right now, or being one of the tenant's people."""
    standing = standing or caller_standing(session, item.tenant_id, user_id, now)
    return standing.unlocks(item, _chosen_plans(session, [item])[item.id])


@dataclass(frozen=True)
class Listed:
    item: ContentItem
    entitled: bool


def list_items(
    db: Database,
    tenant_id: uuid.UUID,
    *,
    user_id: uuid.UUID | None,
    published_only: bool,
    limit: int,
    cursor: str | None = None,
) -> Page[Listed]:
    """A page of the tenant's items, newest first, with the caller's entitlement to each:
    a fixed number of queries whatever the page's size."""
    now = utcnow()
    with db.read() as session:
        query = select(ContentItem).where(ContentItem.tenant_id == tenant_id)
        if published_only:
            query = query.where(ContentItem.state == "published")
        if cursor is not None:
            created_at, item_id = read_time_cursor(cursor)
            query = query.where(
                tuple_(ContentItem.created_at, ContentItem.id) < (created_at, item_id)
            )
        found = session.scalars(
            query.order_by(ContentItem.created_at.desc(), ContentItem.id.desc()).limit(limit + 1)
        ).all()
        standing = (
            caller_standing(session, tenant_id, user_id, now) if user_id is not None else None
        )
        chosen = _chosen_plans(session, found) if standing is not None else {}
        listed = [
            Listed(item, standing is not None and standing.unlocks(item, chosen[item.id]))
            for item in found
        ]
    return page_of(listed, limit, lambda it: time_cursor(it.item.created_at, it.item.id))
