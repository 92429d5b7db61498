"""Where the schema stands: the newest migration this build ships, and the one the
database is at. Read without the models, so any layer may ask (readiness, the ops checks,
evidence); upgrading and comparing with the models is `migrate.py`'s."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text

from darvaza.db import Database

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
VERSION_TABLE = "alembic_version"


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


@cache
def head_revisions() -> frozenset[str]:
    """The newest revision(s) this build ships (read once; the files do not change)."""
    return frozenset(ScriptDirectory.from_config(alembic_config()).get_heads())


@cache
def known_revisions() -> frozenset[str]:
    """Every revision this build ships: a database at any other came from a newer one."""
    script = ScriptDirectory.from_config(alembic_config())
    return frozenset(revision.revision for revision in script.walk_revisions())


def current_revisions(db: Database) -> frozenset[str]:
    # Read the version table directly: cheap enough for every readiness probe.
    with db.engine.connect() as connection:
        if not inspect(connection).has_table(VERSION_TABLE):
            return frozenset()
        rows = connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}"))  # noqa: S608
        return frozenset(rows.scalars())


@dataclass(frozen=True)
class MigrationStatus:
    current: frozenset[str]
    head: frozenset[str]

    @property
    def pending(self) -> bool:
        return self.current != self.head

    @property
    def current_label(self) -> str | None:
        """The database's revision as one string (None for an empty database)."""
        return ", ".join(sorted(self.current)) or None

    def describe(self) -> str:
        current = self.current_label or "none (empty database)"
        head = ", ".join(sorted(self.head))
        if self.pending:
            return f"migration pending: database at {current}, code at {head}"
        return f"up to date at {head}"


def migration_status(db: Database) -> MigrationStatus:
    return MigrationStatus(current_revisions(db), head_revisions())
