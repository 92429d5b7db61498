"""Content's work for the worker: deleting download links that ended long ago, and stored
files that no item refers to (past the orphan grace)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from darvaza.clock import utcnow
from darvaza.content.downloads import delete_ended_download_tokens
from darvaza.content.orphans import delete_orphans
from darvaza.content.storage import Storage
from darvaza.jobs.registry import JobContext, JobKind, Tasks
from darvaza.jobs.schedule import Periodic

# Ended links are kept this long (they explain a "my link stopped working"), then deleted.
KEEP_ENDED = timedelta(days=7)


def delete_old_download_tokens(context: JobContext, _payload: dict[str, Any]) -> dict[str, int]:
    return {"download_tokens": delete_ended_download_tokens(context.db, keep=KEEP_ENDED)}


def delete_orphan_files(context: JobContext, _payload: dict[str, Any]) -> dict[str, int]:
    grace = timedelta(hours=context.settings.ops_orphan_grace_hours)
    storage = context.parts.get(Storage)
    return {"files": delete_orphans(context.db, storage, written_before=utcnow() - grace)}


TASKS = Tasks(
    kinds=(
        JobKind("downloads.cleanup", delete_old_download_tokens, timeout=timedelta(minutes=10)),
        JobKind("content.orphans_cleanup", delete_orphan_files, timeout=timedelta(minutes=30)),
    ),
    schedule=(
        Periodic("downloads.cleanup", cron="17 * * * *"),
        Periodic("content.orphans_cleanup", cron="45 4 * * *"),
    ),
)
