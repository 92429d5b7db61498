"""Content's ops checks: stored files and items that have lost each other."""

from __future__ import annotations

import uuid
from datetime import timedelta

from darvaza.checks import Check, CheckContext, Observation, Outcome, Subject
from darvaza.content.orphans import find_orphans, items_without_files
from darvaza.content.storage import Storage
from darvaza.errors import N_

SAMPLE = 10
# Items looked at per run: the scan rolls through the table, so each run stays short
# however many items there are.
ITEMS_PER_RUN = 2_000


def orphan_files(context: CheckContext) -> list[Observation]:
    grace = timedelta(hours=context.parts.settings.ops_orphan_grace_hours)
    orphans = find_orphans(
        context.parts.db, context.parts.get(Storage), written_before=context.now - grace
    )
    if not orphans:
        return []
    details = {
        "files": len(orphans),
        "keys": [orphan.key for orphan in orphans[:SAMPLE]],
        "oldest_written_at": min(orphan.written_at for orphan in orphans).isoformat(),
    }
    return [Observation(Subject("storage", "orphan-files"), details)]


def missing_files(context: CheckContext, *, per_run: int = ITEMS_PER_RUN) -> Outcome:
    """The next `per_run` items after the last run's; those whose file is gone or has
    another size. Only findings among the items looked at can resolve."""
    after = context.state.get("after")
    examined, missing = items_without_files(
        context.parts.db,
        context.parts.get(Storage),
        after=uuid.UUID(after) if after else None,
        limit=per_run,
    )
    # At the end of the table, start again from the beginning next run.
    cursor = str(examined[-1]) if len(examined) == per_run else None
    observations = [
        Observation(
            Subject("content_item", str(item.item_id), str(item.tenant_id)),
            {"storage_key": item.key, "problem": item.problem},
        )
        for item in missing
    ]
    return Outcome(observations, frozenset(str(i) for i in examined), {"after": cursor})


CHECKS = (
    Check(
        "content.orphan_files",
        "medium",
        N_("Stored files that no item refers to"),
        timedelta(hours=1),
        orphan_files,
    ),
    Check(
        "content.missing_files",
        "high",
        N_("Items whose stored file is gone"),
        timedelta(minutes=10),
        missing_files,
    ),
)
