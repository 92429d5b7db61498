"""Schema migrations: upgrade, and tell whether the database matches the code.

The database is "current" when its Alembic revision is the newest one shipped
(`revisions.migration_status`) and the models (the tables the code expects) match what
the migrations built (`model_differences`).
"""

from __future__ import annotations

from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from darvaza.db import Database
from darvaza.models import metadata
from darvaza.revisions import VERSION_TABLE, schema_change


def upgrade_to_head(db: Database) -> None:
    with schema_change(db) as config:
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
