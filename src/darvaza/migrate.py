"""Schema migrations: upgrade, and tell whether the database matches the code.

The database is "current" when its Alembic revision is the newest one shipped and the
models (the tables the code expects) match what the migrations built.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text

from darvaza.db import Database
from darvaza.models import metadata

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

    def describe(self) -> str:
        current = ", ".join(sorted(self.current)) or "none (empty database)"
        head = ", ".join(sorted(self.head))
        if self.pending:
            return f"migration pending: database at {current}, code at {head}"
        return f"up to date at {head}"


def migration_status(db: Database) -> MigrationStatus:
    return MigrationStatus(current_revisions(db), head_revisions())


def upgrade_to_head(db: Database) -> None:
    with db.engine.begin() as connection:
        config = alembic_config()
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def model_differences(db: Database) -> list[str]:
    """How the models differ from the migrated database (empty when they agree).

    Meaningful only on a database at head: on an older one, pending migrations show up too.
    """
    with db.engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "include_name": _include_name}
        )
        return [_describe_diff(diff) for diff in compare_metadata(context, metadata)]


def _include_name(name: str | None, type_: str, _parents: Any) -> bool:
    return not (type_ == "table" and name == VERSION_TABLE)


def _describe_diff(diff: Any) -> str:
    if isinstance(diff, list):  # column-level changes arrive as a list of tuples
        return "; ".join(_describe_diff(item) for item in diff)
    kind, *rest = diff
    subject = next((getattr(item, "name", None) for item in rest if hasattr(item, "name")), "")
    return f"{kind} {subject}".strip() if subject else f"{kind} {rest!r}"
