"""Stored files and items that have lost each other: a file no item refers to (an upload
whose row never committed, an item deleted before its file) only takes space; an item
whose file is gone cannot be downloaded."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import islice

from sqlalchemy import select
from sqlalchemy.orm import Session

from darvaza.content.models import ContentItem
from darvaza.content.storage import Storage, StorageError
from darvaza.db import Database

BATCH = 500


@dataclass(frozen=True)
class Orphan:
    key: str
    written_at: datetime


def _batches(keys: Iterator[tuple[str, datetime]]) -> Iterator[list[tuple[str, datetime]]]:
    while batch := list(islice(keys, BATCH)):
        yield batch


def find_orphans(db: Database, storage: Storage, *, written_before: datetime) -> list[Orphan]:
    """Files written before then that no item refers to. Younger files are left alone:
    an upload writes its file before its row commits."""
    orphans = []
    old = ((key, at) for key, at in storage.stored_files() if at < written_before)
    for batch in _batches(old):
        with db.read() as session:
            known = set(
                session.scalars(
                    select(ContentItem.storage_key).where(
                        ContentItem.storage_key.in_([key for key, _ in batch])
                    )
                )
            )
        orphans += [Orphan(key, at) for key, at in batch if key not in known]
    return orphans


def delete_orphans(db: Database, storage: Storage, *, written_before: datetime) -> int:
    """Delete the files `find_orphans` names; how many."""
    orphans = find_orphans(db, storage, written_before=written_before)
    for orphan in orphans:
        storage.delete(orphan.key)
    return len(orphans)


@dataclass(frozen=True)
class MissingFile:
    item_id: uuid.UUID
    tenant_id: uuid.UUID
    key: str
    problem: str


def items_without_files(
    db: Database, storage: Storage, *, after: uuid.UUID | None, limit: int
) -> tuple[Sequence[uuid.UUID], list[MissingFile]]:
    """The next `limit` items by id after `after` (a rolling scan), and those among them
    whose file is gone or no longer has the size recorded."""
    query = select(ContentItem.id, ContentItem.tenant_id, ContentItem.storage_key,
                   ContentItem.size_bytes).order_by(ContentItem.id).limit(limit)  # fmt: skip
    if after is not None:
        query = query.where(ContentItem.id > after)
    with db.read() as session:
        rows = session.execute(query).all()
    missing = []
    for item_id, tenant_id, key, size in rows:
        try:
            found = storage.size(key)
        except StorageError:
            missing.append(MissingFile(item_id, tenant_id, key, "the file is gone"))
            continue
        if found != size:
            missing.append(
                MissingFile(item_id, tenant_id, key, f"{found} bytes stored, {size} recorded")
            )
    return [row[0] for row in rows], missing


@dataclass(frozen=True)
class FileRecord:
    key: str
    sha256: str
    size: int


def file_records(session: Session) -> list[FileRecord]:
    """Every stored file an item refers to, with the hash and size its item records, as
    this session sees them (a backup reads them in the snapshot its database part has)."""
    rows = session.execute(
        select(ContentItem.storage_key, ContentItem.sha256, ContentItem.size_bytes)
        .order_by(ContentItem.storage_key)
    )  # fmt: skip
    return [FileRecord(key, sha256, size) for key, sha256, size in rows]
