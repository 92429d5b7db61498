"""What the audit tests share: appending in one transaction, sealing, and an intruder."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text

from darvaza.audit.checkpoints import AuditKeys, CheckpointFolder
from darvaza.audit.models import AuditEvent
from darvaza.audit.service import append_event
from darvaza.audit.verify import LogReport, verify_log
from darvaza.db import Database
from darvaza.security.caller import Actor

ADMIN = Actor.user("3f2c8a8e-0000-4000-8000-000000000001", "platform_admin")
SECRET = "a" * 40
KEYS = AuditKeys.from_secret(SECRET)
AUDITED_TABLES = ("audit_events", "audit_seals", "audit_checkpoints")


def append(db: Database, count: int, action: str = "test.appended") -> list[AuditEvent]:
    events = []
    with db.transaction() as session:
        for i in range(count):
            events.append(append_event(session, action=action, actor=ADMIN, data={"i": i}))
    return events


def verify(db: Database, folder: Path, max_delay: float = 300) -> LogReport:
    return verify_log(db, KEYS, CheckpointFolder(folder), max_delay_seconds=max_delay)


def tamper(db: Database, *statements: str) -> None:
    """What an intruder with the database's owner role could do: switch the triggers off,
    then write."""
    with db.engine.begin() as connection:
        for table in AUDITED_TABLES:
            if db.backend == "postgresql":
                connection.execute(text(f"ALTER TABLE {table} DISABLE TRIGGER USER"))
            else:
                for trigger in (f"{table}_no_update", f"{table}_no_delete"):
                    connection.execute(text(f"DROP TRIGGER IF EXISTS {trigger}"))
        for statement in statements:
            connection.execute(text(statement))
