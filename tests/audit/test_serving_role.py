"""On PostgreSQL, a serving role with the grants `darvaza db grants` prints (and owning no
table) serves the app, but cannot drop or disable the audit log's triggers, nor change,
delete or truncate its events."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from typer.testing import CliRunner

from darvaza.audit.checkpoints import CheckpointFolder, seal_all
from darvaza.cli import app as cli
from darvaza.db import Database
from darvaza.identity.accounts import create_user
from tests.audit.support import KEYS, verify
from tests.conftest import BACKENDS
from tests.support.world import SYSTEM

# PostgreSQL's half only (SQLite has no roles), skipped like it where it does not answer.
pytestmark = pytest.mark.parametrize("backend", [BACKENDS[1]], indirect=True)

REFUSED = [
    "DROP TRIGGER audit_events_append_only ON audit_events",
    "ALTER TABLE audit_events DISABLE TRIGGER ALL",
    "DELETE FROM audit_events",
    "UPDATE audit_events SET reason = 'rewritten'",
    "TRUNCATE audit_events",
    "DROP TABLE audit_events",
    "DROP TRIGGER audit_events_queue ON audit_events",
    "DELETE FROM audit_seals",
    "UPDATE audit_seals SET mac = ''",
    "ALTER TABLE audit_seals DISABLE TRIGGER ALL",
    "DELETE FROM audit_checkpoints",
    "UPDATE audit_checkpoints SET signature = ''",
]


@pytest.fixture
def serving_url(db: Database, database_url: str) -> Iterator[str]:
    role = f"dz_app_{secrets.token_hex(4)}"
    grants = CliRunner().invoke(cli, ["db", "grants", "--role", role])
    assert grants.exit_code == 0, grants.output
    owner = create_engine(database_url, isolation_level="AUTOCOMMIT")
    with owner.connect() as connection:
        connection.execute(text(f"CREATE ROLE {role} LOGIN"))
        for statement in grants.stdout.strip().split(";\n"):
            connection.execute(text(statement.rstrip(";")))
    try:
        yield make_url(database_url).set(username=role).render_as_string(hide_password=False)
    finally:
        with owner.connect() as connection:
            connection.execute(text(f"DROP OWNED BY {role}"))
            connection.execute(text(f"DROP ROLE {role}"))
        owner.dispose()


@pytest.mark.parametrize("statement", REFUSED)
def test_the_serving_role_cannot_touch_the_audit_log(
    serving_url: str, db: Database, statement: str, tmp_path: Path
) -> None:
    served = Database(serving_url)
    try:
        create_user(served, SYSTEM, email="before@example.com", password="pw-long-enough-1",
                    min_length=10)  # fmt: skip
        with pytest.raises(DBAPIError) as refused, served.engine.begin() as connection:
            connection.execute(text(statement))
        # 42501 insufficient_privilege: refused for want of a privilege (or by the trigger).
        assert getattr(refused.value.orig, "sqlstate", None) == "42501", refused.value
        # And the app works as that role: an audited change lands, the role's worker seals
        # it, and the log verifies.
        create_user(served, SYSTEM, email="after@example.com", password="pw-long-enough-2",
                    min_length=10)  # fmt: skip
        assert seal_all(served, KEYS, CheckpointFolder(tmp_path)) >= 2
        assert verify(db, tmp_path).ok
    finally:
        served.dispose()
