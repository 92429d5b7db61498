"""Alembic environment.

Darvaza passes its own connection (see `darvaza.migrate`); run by hand with `alembic`,
the database comes from the settings (`DARVAZA_DATABASE_URL`).
"""

from __future__ import annotations

from typing import Any, Literal

from alembic import context
from alembic.autogenerate.api import AutogenContext
from sqlalchemy import Connection

from darvaza.db import UTCDateTime
from darvaza.models import metadata


def _render_item(type_: str, obj: Any, _autogen_context: AutogenContext) -> str | Literal[False]:
    # Migrations describe the stored type, so they never import application code.
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        # SQLite cannot ALTER most things; batch mode rebuilds the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        render_item=_render_item,
    )
    with context.begin_transaction():
        context.run_migrations()


def _main() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    from darvaza.config import load_settings
    from darvaza.db import Database

    database = Database.from_settings(load_settings())
    try:
        with database.engine.connect() as own_connection:
            _run(own_connection)
    finally:
        database.dispose()


_main()
