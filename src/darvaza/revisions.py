"""Where the schema stands: the newest migration this build ships, and the one the
database is at. Read without the models, so any layer may ask (readiness, the ops checks,
evidence); what each migration is and the way between two revisions; going down to one
(a rollback). Upgrading and comparing with the models is `migrate.py`'s."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from alembic import command
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


# What undoing a migration means, as each declares in its `kind`:
# - expand: it only adds (tables, columns, indexes); code from before it keeps working on
#   the new schema, and its downgrade takes away only what it added;
# - contract: it removes or tightens something code from before it relies on; its
#   downgrade may run, but a rollback across it goes through a restore point;
# - irreversible: there is no way back but a restore point taken before it.
MIGRATION_KINDS = ("expand", "contract", "irreversible")
REVERSIBLE = "expand"


@dataclass(frozen=True)
class Migration:
    revision: str
    down_revision: str | None
    kind: str
    title: str


@cache
def migrations() -> tuple[Migration, ...]:
    """Every migration this build ships, oldest first."""
    script = ScriptDirectory.from_config(alembic_config())
    found = [
        Migration(
            revision=item.revision,
            down_revision=item.down_revision if isinstance(item.down_revision, str) else None,
            kind=getattr(item.module, "kind", ""),
            title=" ".join((item.doc or "").split("\n\n")[0].split()),
        )
        for item in script.walk_revisions()
    ]
    return tuple(reversed(found))


def between(older: str | None, newer: str) -> list[Migration]:
    """The migrations that take a database at `older` (None: empty) to `newer`, oldest
    first; a ValueError when `older` is not on the way to `newer`."""
    chain = {migration.revision: migration for migration in migrations()}
    if newer not in chain or (older is not None and older not in chain):
        raise ValueError(f"No migration {newer if newer not in chain else older} in this build.")
    path: list[Migration] = []
    at: str | None = newer
    while at != older:
        if at is None:
            raise ValueError(f"{older} is not before {newer}.")
        path.append(chain[at])
        at = chain[at].down_revision
    return list(reversed(path))


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


@contextmanager
def schema_change(db: Database) -> Iterator[Config]:
    """Alembic's configuration on a connection in one transaction. On SQLite, foreign
    keys are off meanwhile: batch mode rebuilds a table by dropping it, which a table
    others refer to would refuse. They are checked before it commits."""
    with db.engine.connect() as connection:
        # The driver's own connection: a statement through SQLAlchemy would begin the
        # transaction first, and SQLite ignores this pragma inside one.
        raw = connection.connection.driver_connection
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:
            raw.execute("PRAGMA foreign_keys=OFF")  # type: ignore[union-attr]
        try:
            with connection.begin():
                config = alembic_config()
                config.attributes["connection"] = connection
                yield config
                if sqlite and connection.exec_driver_sql("PRAGMA foreign_key_check").first():
                    raise RuntimeError("The schema change leaves rows whose references broke.")
        finally:
            if sqlite:
                raw.execute("PRAGMA foreign_keys=ON")  # type: ignore[union-attr]


def downgrade_to(db: Database, revision: str) -> None:
    """Undo the migrations after `revision`, in one transaction."""
    with schema_change(db) as config:
        command.downgrade(config, revision)
