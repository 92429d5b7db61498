"""Database access: the engine, sessions, and the transaction helper every service uses.

SQLite runs in WAL mode with foreign keys on and a busy timeout. Its write transactions
begin with `BEGIN IMMEDIATE`, so a transaction that reads and then writes holds the write
lock from its first statement: two writers queue instead of one failing half-way. That is
SQLite's equivalent of PostgreSQL's row lock, and it keeps read-check-write sequences
(pretix's pattern) correct on both engines. Read-only work uses `Database.read()`, which
begins a deferred transaction and never takes the write lock.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import (
    JSON,
    ColumnElement,
    Connection,
    DateTime,
    Engine,
    MetaData,
    create_engine,
    event,
    select,
    text,
)
from sqlalchemy.engine import URL, Dialect, make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import (
    DeclarativeBase,
    InstrumentedAttribute,
    ORMExecuteState,
    Session,
    UOWTransaction,
)
from sqlalchemy.sql import Executable
from sqlalchemy.types import TypeDecorator

from darvaza.config import Settings
from darvaza.errors import InvalidInput, NotFound

T = TypeVar("T")
K = TypeVar("K")
V = TypeVar("V")

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

_SQLITE_BEGIN_OPTION = "darvaza_sqlite_begin"
# The embedded default's folder is made when missing; any other SQLite path's folder must
# exist, so that a typo in the path is an error rather than a new, empty platform.
DEFAULT_SQLITE_FOLDER = Path("var")


class DatabaseUnusable(Exception):
    """The database cannot be used, said in one line with what to do about it."""


def explain_connection_error(exc: BaseException, url: URL) -> str | None:
    """One line for an operator from a driver's connection error; None if it is none."""
    said = str(getattr(exc, "orig", None) or exc)
    where = f"DARVAZA_DATABASE_URL is {url.render_as_string(hide_password=True)}"
    if re.search(r'role "[^"]*" does not exist|password authentication failed', said):
        return (
            f"The database refused the user {url.username!r}: check its name and password "
            f"({where})."
        )
    if re.search(r'database "[^"]*" does not exist', said):
        return (
            f"The database {url.database!r} does not exist on {url.host or 'localhost'}: create it "
            f"(createdb -O {url.username or 'darvaza'} {url.database}) or fix the name ({where})."
        )
    if re.search(r"Connection refused|could not connect|timeout expired|Name or service", said):
        return (
            f"Nothing answers at {url.host}:{url.port or 5432}: is PostgreSQL running there? "
            f"({where})"
        )
    if "unable to open database file" in said:
        return f"SQLite cannot open {url.database!r}: check the path and its permissions."
    return None


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp that is always timezone-aware UTC in Python, on both engines.

    SQLite has no time zones, so the value is stored as naive UTC there; PostgreSQL keeps
    `timestamptz`. Naive datetimes are refused: they are a bug waiting to happen.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(
        self,
        value: datetime | None,
        dialect: Dialect,  # noqa: ARG002 (part of the TypeDecorator interface)
    ) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {  # noqa: RUF012 (SQLAlchemy reads this class attribute)
        datetime: UTCDateTime(),
        dict[str, Any]: JSON(),
        list[str]: JSON(),
    }


class AppendOnly:
    """A table whose rows are only ever inserted (the audit log, evidence): a session
    refuses to change or delete them, and the database's triggers say the same."""


class AppendOnlyError(Exception):
    """Code tried to change or delete a row of an append-only table: a bug, never input."""


def _holds_nul(value: object) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_holds_nul(item) for item in value.values())
    if isinstance(value, list | tuple):
        return any(_holds_nul(item) for item in value)
    return False


@event.listens_for(Engine, "before_cursor_execute")
def _refuse_nul_text(
    _connection: Connection, _cursor: Any, _statement: str, parameters: Any, *_rest: Any
) -> None:
    """PostgreSQL cannot hold U+0000 in text (SQLite can): text with it is refused on both
    engines alike, as bad input, before anything is sent, wherever it came from (a body,
    a query, a form)."""
    if _holds_nul(parameters):
        raise InvalidInput("Text may not contain the NUL character (U+0000).", code="invalid_text")


@event.listens_for(Session, "before_flush")
def _refuse_append_only_changes(
    session: Session, _context: UOWTransaction, _instances: object
) -> None:
    for obj in session.deleted:
        if isinstance(obj, AppendOnly):
            raise AppendOnlyError(f"{type(obj).__name__} rows are never deleted")
    for obj in session.dirty:
        if isinstance(obj, AppendOnly) and session.is_modified(obj):
            raise AppendOnlyError(f"{type(obj).__name__} rows are never changed")


@event.listens_for(Session, "do_orm_execute")
def _refuse_bulk_append_only_changes(state: ORMExecuteState) -> None:
    mapper = state.bind_mapper
    if (state.is_update or state.is_delete) and mapper and issubclass(mapper.class_, AppendOnly):
        raise AppendOnlyError(f"{mapper.class_.__name__} rows are never changed or deleted")


def flushed(session: Session, change: Callable[[], object]) -> bool:
    """Make `change` (add or modify objects) and flush it inside a savepoint; False when a
    unique constraint refused it, and the transaction carries on without the change. (The
    change must happen inside: starting a savepoint flushes what is already pending,
    outside it.)"""
    try:
        with session.begin_nested():
            change()
            session.flush()
    except IntegrityError:
        return False
    return True


def flush_unique(session: Session, change: Callable[[], object], conflict: Exception) -> None:
    """`flushed`, raising `conflict` when a unique constraint refused the change."""
    if not flushed(session, change):
        raise conflict


def values_by_id(
    session: Session,
    key: InstrumentedAttribute[K],
    value: InstrumentedAttribute[V],
    ids: Iterable[K],
) -> dict[K, V]:
    """One column of the rows with these ids, by id: for naming what a page refers to
    (payers' emails, tenants' slugs) without joining another domain's table."""
    wanted = set(ids)
    if not wanted:
        return {}
    return {row[0]: row[1] for row in session.execute(select(key, value).where(key.in_(wanted)))}


def lock_row(
    session: Session,
    model: type[T],
    *where: ColumnElement[bool],
    missing: str | NotFound = "Not found.",
) -> T:
    """The one row of `model` matching `where`, locked for this transaction and read
    fresh (never the session's older copy); `missing` (a `NotFound`) when there is none.
    On SQLite the transaction's write lock (`BEGIN IMMEDIATE`) already holds the row."""
    row = lock_row_if_any(session, model, *where)
    if row is None:
        raise missing if isinstance(missing, NotFound) else NotFound(missing)
    return row


def lock_row_if_any(session: Session, model: type[T], *where: ColumnElement[bool]) -> T | None:
    """`lock_row`, answering None when no row matches."""
    found: T | None = session.scalars(
        select(model)
        .where(*where)
        .with_for_update(of=model)
        .execution_options(populate_existing=True)
    ).one_or_none()
    return found


def changed_rows(session: Session, statement: Executable) -> int:
    """Run a bulk UPDATE or DELETE (the session's objects are not synchronised with it)
    and return how many rows it changed."""
    result = session.execute(statement.execution_options(synchronize_session=False))
    return int(getattr(result, "rowcount", 0) or 0)


def normalise_url(url: str | URL) -> URL:
    """Accept `postgresql://` as shorthand for the psycopg 3 driver Darvaza ships with."""
    parsed = make_url(url)
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


class Database:
    """One engine and the ways to open a session on it."""

    def __init__(
        self,
        url: str | URL,
        *,
        pool_size: int = 5,
        connect_timeout_seconds: int = 5,
        sqlite_busy_timeout_ms: int = 5000,
        make_sqlite_folder: bool = False,
    ) -> None:
        self.url = normalise_url(url)
        self.backend = self.url.get_backend_name()
        if self.backend == "sqlite":
            self.engine = _sqlite_engine(self.url, sqlite_busy_timeout_ms, make_sqlite_folder)
        else:
            self.engine = create_engine(
                self.url,
                pool_size=pool_size,
                max_overflow=pool_size,
                pool_pre_ping=True,  # a restarted database costs one failed ping, not an error
                pool_timeout=connect_timeout_seconds,
                connect_args={
                    "connect_timeout": connect_timeout_seconds,
                    "application_name": "darvaza",
                },
            )
        self._read_engine = self.engine.execution_options(**{_SQLITE_BEGIN_OPTION: "DEFERRED"})

    @classmethod
    def from_settings(cls, settings: Settings) -> Database:
        return cls(
            settings.database_url,
            pool_size=settings.database_pool_size,
            connect_timeout_seconds=settings.database_connect_timeout_seconds,
            sqlite_busy_timeout_ms=settings.sqlite_busy_timeout_ms,
            make_sqlite_folder=_is_default_sqlite(settings.database_url),
        )

    @contextmanager
    def transaction(self, *, durable: bool = True) -> Iterator[Session]:
        """A session in one write transaction: committed on success, rolled back on error.

        `durable=False` (PostgreSQL) commits without waiting for the WAL flush: a database
        crash may lose the last moments of such commits. Only for bookkeeping whose loss
        is harmless, such as the job queue's claims and completions (a lost one means a
        job runs again, which its at-least-once contract allows)."""
        with Session(self.engine, expire_on_commit=False) as session, session.begin():
            if not durable and self.backend == "postgresql":
                session.execute(text("SET LOCAL synchronous_commit TO OFF"))
            yield session

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A session for reading only; on SQLite it never takes the write lock."""
        with Session(self._read_engine, expire_on_commit=False) as session, session.begin():
            yield session

    def ping(self) -> None:
        """Raise unless the database answers a trivial query."""
        with self._read_engine.connect() as connection:
            connection.execute(text("SELECT 1"))

    def dispose(self) -> None:
        self.engine.dispose()


def _is_default_sqlite(url: str) -> bool:
    database = make_url(url).database or ""
    return Path(database).parent == DEFAULT_SQLITE_FOLDER


def _sqlite_engine(url: URL, busy_timeout_ms: int, make_folder: bool) -> Engine:
    database = url.database or ""
    if database and database != ":memory:" and not database.startswith("file:"):
        folder = Path(database).parent
        if make_folder:
            folder.mkdir(parents=True, exist_ok=True)
        elif not folder.is_dir():
            raise DatabaseUnusable(
                f"The folder of the SQLite database {database!r} does not exist: create it "
                "(mkdir -p) or fix DARVAZA_DATABASE_URL; Darvaza makes only ./var/ by itself."
            )
    engine = create_engine(
        url,
        connect_args={"check_same_thread": False, "timeout": busy_timeout_ms / 1000},
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event below decide how transactions start.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        mode = connection.get_execution_options().get(_SQLITE_BEGIN_OPTION, "IMMEDIATE")
        connection.exec_driver_sql(f"BEGIN {mode}")

    return engine
