"""Content's work for the worker: deleting download links that ended long ago."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from darvaza.content.downloads import delete_ended_download_tokens
from darvaza.jobs.registry import JobContext, JobKind, Tasks
from darvaza.jobs.schedule import Periodic

# Ended links are kept this long (they explain a "my link stopped working"), then deleted.
KEEP_ENDED = timedelta(days=7)


def delete_old_download_tokens(context: JobContext, _payload: dict[str, Any]) -> dict[str, int]:
    return {"download_tokens": delete_ended_download_tokens(context.db, keep=KEEP_ENDED)}


TASKS = Tasks(
    kinds=(
        JobKind("downloads.cleanup", delete_old_download_tokens, timeout=timedelta(minutes=10)),
    ),
    schedule=(Periodic("downloads.cleanup", cron="17 * * * *"),),
)
