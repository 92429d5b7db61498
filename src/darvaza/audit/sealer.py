"""The continuous sealer: every worker runs this loop, one of them leads and seals.

On PostgreSQL the leader is whoever holds a session advisory lock on a connection of its
own; the others stand by and try again every few seconds, so when the leader's process or
connection dies another takes over within that time. (Each batch also takes a transaction
lock, so a `darvaza audit seal` run by hand never interleaves with it.) SQLite has one
writer at a time anyway; every sealer there simply takes its turn.

The leader looks for pending events every `interval` seconds, seals what it finds in one
batch (at once again while batches come out full), and copies each new checkpoint to the
folder. It does not listen for notices: a NOTIFY sent by every audited transaction would
make commits queue on PostgreSQL's notification lock, the very wait this design removes.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from sqlalchemy import select, text
from sqlalchemy.exc import SQLAlchemyError

from darvaza.audit.checkpoints import (
    MAX_BATCH,
    SEALER_LOCK,
    AuditKeys,
    CheckpointFolder,
    copy_to_folder,
    seal_batch,
)
from darvaza.audit.models import AuditPending
from darvaza.db import Database
from darvaza.logs import get_logger

log = get_logger("darvaza.audit")

LEADER_LOCK = SEALER_LOCK + 1
STANDBY_SECONDS = 2.0
RETRY_SECONDS = (1.0, 2.0, 5.0, 10.0)


def has_pending(db: Database) -> bool:
    with db.read() as session:
        return session.scalar(select(AuditPending.event_id).limit(1)) is not None


@contextmanager
def leadership(db: Database) -> Iterator[Callable[[], bool] | None]:
    """A check that this process still leads (None: another one does). On PostgreSQL the
    lock lives on a connection taken out of the pool and closed afterwards, so the lock
    can never be handed to someone else with the connection."""
    if db.backend != "postgresql":
        yield lambda: True
        return
    with db.engine.connect() as connection:
        connection.detach()
        if not connection.execute(
            text("SELECT pg_try_advisory_lock(:key)"), {"key": LEADER_LOCK}
        ).scalar():
            connection.rollback()
            yield None
            return
        connection.commit()

        def still_leading() -> bool:
            connection.execute(text("SELECT 1"))  # raises once the connection is gone
            connection.rollback()
            return True

        yield still_leading


def run_sealer(
    db: Database,
    keys: AuditKeys,
    folder: CheckpointFolder,
    stop: threading.Event,
    *,
    interval: float = 0.5,
    standby: float = STANDBY_SECONDS,
) -> None:
    """Seal until `stop` is set (a thread's body); a lost database only pauses it."""
    failures = 0
    while not stop.is_set():
        try:
            with leadership(db) as still_leading:
                if still_leading is None:
                    stop.wait(standby)
                    continue
                log.info("audit_sealer_leading")
                failures = 0
                _lead(db, keys, folder, stop, still_leading, interval, standby)
        except SQLAlchemyError as error:
            delay = RETRY_SECONDS[min(failures, len(RETRY_SECONDS) - 1)]
            failures += 1
            log.warning("audit_sealer_failed", error=str(error)[:300], retry_in_seconds=delay)
            stop.wait(delay)


def _lead(
    db: Database,
    keys: AuditKeys,
    folder: CheckpointFolder,
    stop: threading.Event,
    still_leading: Callable[[], bool],
    interval: float,
    standby: float,
) -> None:
    copied = _copy(db, keys, folder, None)
    checked = time.monotonic()
    while not stop.is_set():
        full = False
        if has_pending(db):
            checkpoint = seal_batch(db, keys)
            if checkpoint is not None:
                full = checkpoint.last_seq - checkpoint.first_seq + 1 >= MAX_BATCH
                copied = _copy(db, keys, folder, copied)
        if not full:
            stop.wait(interval)
        if time.monotonic() - checked > standby:
            still_leading()
            checked = time.monotonic()


def _copy(db: Database, keys: AuditKeys, folder: CheckpointFolder, after: int | None) -> int | None:
    """Copy new checkpoints to the folder; a folder that cannot be written is logged and
    tried again next time, and never stops sealing (the database has the checkpoints)."""
    try:
        return copy_to_folder(db, keys, folder, folder.last_seq() if after is None else after)
    except OSError as error:
        log.error("audit_checkpoint_copy_failed", folder=str(folder.path), error=str(error))
        return after
