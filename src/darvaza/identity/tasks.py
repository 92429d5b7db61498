"""Identity's work for the worker: deleting sessions that ended long ago."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from darvaza.identity.sessions import SessionPolicy, delete_ended_sessions
from darvaza.jobs.registry import JobContext, JobKind, Tasks
from darvaza.jobs.schedule import Periodic

# Ended sessions are kept this long (they help when someone asks "why was I signed
# out?"), then deleted.
KEEP_ENDED = timedelta(days=7)


def delete_old_sessions(context: JobContext, _payload: dict[str, Any]) -> dict[str, int]:
    policy = SessionPolicy.from_settings(context.settings)
    return {"sessions": delete_ended_sessions(context.db, policy, keep=KEEP_ENDED)}


TASKS = Tasks(
    kinds=(JobKind("sessions.cleanup", delete_old_sessions, timeout=timedelta(minutes=10)),),
    schedule=(Periodic("sessions.cleanup", cron="17 * * * *"),),
)
