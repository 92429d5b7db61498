"""The database layer: SQLite's pragmas, UTC timestamps, URL shorthand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import Column, MetaData, Table, insert, select
from sqlalchemy.exc import StatementError

from darvaza.db import Database, DatabaseUnusable, UTCDateTime, normalise_url
from tests.support.settings import make_settings


def test_sqlite_runs_in_wal_with_foreign_keys_and_a_busy_timeout(tmp_path: object) -> None:
    db = Database("sqlite:///var/app.db", sqlite_busy_timeout_ms=1234, make_sqlite_folder=True)
    try:
        with db.engine.connect() as connection:
            pragma = connection.exec_driver_sql
            assert pragma("PRAGMA journal_mode").scalar() == "wal"
            assert pragma("PRAGMA foreign_keys").scalar() == 1
            assert pragma("PRAGMA busy_timeout").scalar() == 1234
    finally:
        db.dispose()


def test_only_the_default_sqlite_folder_is_made(tmp_path: Path) -> None:
    """The embedded default's ./var/ is made; any other path's folder must exist, so a typo
    in the path is an error, not a new and empty platform."""
    with pytest.raises(DatabaseUnusable, match="does not exist"):
        Database.from_settings(make_settings(database_url="sqlite:///./varr/darvaza.db"))
    assert not (tmp_path / "varr").exists()
    Database.from_settings(make_settings()).dispose()
    assert (tmp_path / "var").is_dir()
    (tmp_path / "elsewhere").mkdir()
    Database.from_settings(make_settings(database_url="sqlite:///elsewhere/x.db")).dispose()


def test_postgresql_shorthand_uses_psycopg() -> None:
    assert normalise_url("postgresql://u@h/d").drivername == "postgresql+psycopg"
    assert normalise_url("sqlite:///x.db").drivername == "sqlite"


def test_timestamps_come_back_as_utc_whatever_zone_went_in(db: Database) -> None:
    table = Table("stamps", MetaData(), Column("at", UTCDateTime()))
    table.create(db.engine)
    tehran = timezone(timedelta(hours=3, minutes=30))
    written = datetime(2026, 3, 20, 12, 0, 0, 123456, tzinfo=tehran)
    with db.transaction() as session:
        session.execute(insert(table).values(at=written))
    with db.read() as session:
        read = session.execute(select(table.c.at)).scalar_one()
    assert read == written
    assert read.tzinfo == UTC
    assert (read.hour, read.minute) == (8, 30)


def test_naive_timestamps_are_refused(db: Database) -> None:
    table = Table("naive", MetaData(), Column("at", UTCDateTime()))
    table.create(db.engine)
    with pytest.raises(StatementError, match="naive datetime"), db.transaction() as session:
        session.execute(insert(table).values(at=datetime(2026, 1, 1)))  # noqa: DTZ001


def test_a_failed_transaction_leaves_nothing(db: Database) -> None:
    table = Table("things", MetaData(), Column("at", UTCDateTime()))
    table.create(db.engine)
    with pytest.raises(RuntimeError), db.transaction() as session:
        session.execute(insert(table).values(at=datetime.now(UTC)))
        raise RuntimeError("crash mid-way")
    with db.read() as session:
        assert session.execute(select(table.c.at)).all() == []
