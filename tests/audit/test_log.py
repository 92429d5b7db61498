"""The audit log's write side: an event is an insert in the caller's transaction that
waits on nobody; nothing changes or removes one."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, func, select, text, update
from sqlalchemy.exc import DBAPIError

from darvaza.audit.checkpoints import CheckpointFolder, seal_all, seal_batch
from darvaza.audit.models import AuditCheckpoint, AuditEvent, AuditPending, AuditSeal
from darvaza.audit.sealer import run_sealer
from darvaza.audit.service import REDACTED, AuditLogError, append_event, content_hash
from darvaza.context import client_ip_var, request_id_var
from darvaza.db import AppendOnlyError, Database
from darvaza.security.caller import Actor
from tests.audit.support import ADMIN, AUDITED_TABLES, KEYS, append, verify


def _count(db: Database, model: type) -> int:
    with db.read() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_an_event_is_queued_for_the_sealer_and_sealed_in_order(
    db: Database, tmp_path: Path
) -> None:
    first, second, third = append(db, 3)
    assert first.id < second.id < third.id
    assert _count(db, AuditPending) == 3
    assert seal_all(db, KEYS, CheckpointFolder(tmp_path)) == 3
    with db.read() as session:
        seals = session.scalars(select(AuditSeal).order_by(AuditSeal.seq)).all()
    assert [(s.seq, s.event_id) for s in seals] == [(1, first.id), (2, second.id), (3, third.id)]
    assert _count(db, AuditPending) == 0
    report = verify(db, tmp_path)
    assert report.ok, report.problems
    assert (report.sealed, report.checkpoints, report.unsealed) == (3, 1, 0)


def test_the_writer_hashes_its_event_as_the_database_gives_it_back(db: Database) -> None:
    (written,) = append(db, 1)
    with db.read() as session:
        stored = session.get(AuditEvent, written.id)
        assert stored is not None
        assert stored.content_hash == content_hash(stored) == written.content_hash


def test_an_empty_log_verifies(db: Database, tmp_path: Path) -> None:
    report = verify(db, tmp_path)
    assert report.ok
    assert (report.sealed, report.checkpoints, report.unsealed) == (0, 0, 0)


def test_event_records_actor_target_and_request_context(db: Database) -> None:
    request_token = request_id_var.set("req-1234567")
    ip_token = client_ip_var.set("203.0.113.7")
    try:
        with db.transaction() as session:
            append_event(
                session,
                action="tenant.created",
                actor=ADMIN,
                tenant_id="t-1",
                target_type="tenant",
                target_id="t-1",
                reason="onboarding",
                data={"slug": "acme"},
            )
    finally:
        request_id_var.reset(request_token)
        client_ip_var.reset(ip_token)
    with db.read() as session:
        stored = session.scalars(select(AuditEvent)).one()
    assert (stored.actor_type, stored.actor_id, stored.actor_role) == (
        "user",
        ADMIN.id,
        "platform_admin",
    )
    assert (stored.tenant_id, stored.target_type, stored.target_id) == ("t-1", "tenant", "t-1")
    assert (stored.ip, stored.request_id, stored.reason) == (
        "203.0.113.7",
        "req-1234567",
        "onboarding",
    )
    assert stored.data == {"slug": "acme"}
    assert stored.occurred_at.tzinfo is not None


def test_event_and_change_land_together_or_not_at_all(db: Database, tmp_path: Path) -> None:
    with pytest.raises(RuntimeError), db.transaction() as session:
        append_event(session, action="doomed", actor=Actor.system())
        raise RuntimeError("the change it records failed")
    assert _count(db, AuditEvent) == 0
    assert _count(db, AuditPending) == 0  # nothing queued for the sealer either
    append(db, 1)
    seal_all(db, KEYS, CheckpointFolder(tmp_path))
    with db.read() as session:
        assert session.scalars(select(AuditSeal.seq)).all() == [1]  # no gap in the seals
    assert verify(db, tmp_path).ok


def test_secrets_never_land_in_data(db: Database) -> None:
    with db.transaction() as session:
        event = append_event(
            session,
            action="auth.login.succeeded",
            actor=ADMIN,
            data={
                "email": "a@example.com",
                "password": "hunter2",
                "new-password": "hunter3",
                "headers": {"Authorization": "Bearer abc", "X-API-KEY": "k"},
                "token": "t",
                "session_token": "s",
                "token_name": "ops",
            },
        )
    assert event.data == {
        "email": "a@example.com",
        "password": REDACTED,
        "new-password": REDACTED,
        "headers": {"Authorization": REDACTED, "X-API-KEY": REDACTED},
        "token": REDACTED,
        "session_token": REDACTED,
        "token_name": "ops",
    }


def test_unserialisable_data_is_refused(db: Database) -> None:
    with pytest.raises(AuditLogError), db.transaction() as session:
        append_event(session, action="x", actor=ADMIN, data={"value": object()})
    with pytest.raises(AuditLogError), db.transaction() as session:
        append_event(session, action="x", actor=ADMIN, data={"value": float("nan")})


@pytest.mark.parametrize("model", [AuditEvent, AuditSeal, AuditCheckpoint])
def test_orm_cannot_change_or_delete_the_log(db: Database, tmp_path: Path, model: type) -> None:
    append(db, 1)
    seal_all(db, KEYS, CheckpointFolder(tmp_path))
    column = {AuditEvent: "reason", AuditSeal: "hash", AuditCheckpoint: "body"}[model]
    with pytest.raises(AppendOnlyError), db.transaction() as session:
        setattr(session.scalars(select(model)).one(), column, "rewritten")
    with pytest.raises(AppendOnlyError), db.transaction() as session:
        session.delete(session.scalars(select(model)).one())
    with pytest.raises(AppendOnlyError), db.transaction() as session:
        session.execute(update(model).values({column: "rewritten"}))
    with pytest.raises(AppendOnlyError), db.transaction() as session:
        session.execute(delete(model))
    assert verify(db, tmp_path).ok


@pytest.mark.parametrize("table", AUDITED_TABLES)
@pytest.mark.parametrize(
    "change", ["UPDATE {table} SET {column} = {column}", "DELETE FROM {table}"]
)
def test_database_triggers_refuse_raw_changes(
    db: Database, tmp_path: Path, table: str, change: str
) -> None:
    append(db, 2)
    seal_all(db, KEYS, CheckpointFolder(tmp_path))
    column = {"audit_events": "reason", "audit_seals": "hash", "audit_checkpoints": "body"}
    statement = change.format(table=table, column=column[table])
    with pytest.raises(DBAPIError, match="append-only"), db.engine.begin() as connection:
        connection.execute(text(statement))
    assert verify(db, tmp_path).ok


def test_postgresql_refuses_truncate(db: Database, tmp_path: Path) -> None:
    if db.backend != "postgresql":
        pytest.skip("TRUNCATE exists only on PostgreSQL")
    append(db, 1)
    seal_all(db, KEYS, CheckpointFolder(tmp_path))
    for table in AUDITED_TABLES:
        with pytest.raises(DBAPIError, match="append-only"), db.engine.begin() as connection:
            connection.execute(text(f"TRUNCATE {table} CASCADE"))


def test_an_open_audited_transaction_holds_no_one_back(db: Database, tmp_path: Path) -> None:
    """The old log made every audited transaction lock one head row until it committed. Now
    a transaction that has appended and stays open does not stop another from appending and
    committing, and the sealer seals what has committed, the late one after."""
    if db.backend != "postgresql":
        pytest.skip("SQLite has one writer at a time by design")
    folder = CheckpointFolder(tmp_path)
    opened, release = threading.Event(), threading.Event()

    def slow_change() -> None:
        with db.transaction() as session:
            append_event(session, action="test.slow", actor=ADMIN)
            session.flush()
            opened.set()
            release.wait(30)

    slow = threading.Thread(target=slow_change)
    slow.start()
    try:
        assert opened.wait(10)
        started = time.monotonic()
        append(db, 1, action="test.quick")
        assert time.monotonic() - started < 2  # the old head lock kept it waiting
        assert seal_all(db, KEYS, folder) == 1  # only what has committed
    finally:
        release.set()
        slow.join(30)
    assert seal_all(db, KEYS, folder) == 1  # the late commit, with a lower id, comes next
    with db.read() as session:
        order = session.execute(
            select(AuditEvent.action).join(AuditSeal).order_by(AuditSeal.seq)
        ).scalars()
        assert list(order) == ["test.quick", "test.slow"]
    assert verify(db, tmp_path).ok


def test_parallel_appenders_with_the_sealer_running_make_one_gapless_log(
    db: Database, tmp_path: Path
) -> None:
    """Eight writers on their own connections, the continuous sealer beside them: every
    event sealed exactly once, seals 1..N without a gap, and verify finds nothing wrong."""
    writers, per_writer = 8, 25
    errors: list[BaseException] = []
    barrier = threading.Barrier(writers)
    folder = CheckpointFolder(tmp_path)
    stop = threading.Event()
    sealer = threading.Thread(target=run_sealer, args=(db, KEYS, folder, stop),
                              kwargs={"interval": 0.02})  # fmt: skip
    sealer.start()

    def write(writer: int) -> None:
        try:
            barrier.wait()
            for i in range(per_writer):
                with db.transaction() as session:
                    append_event(
                        session, action="test.parallel", actor=Actor.system(f"w{writer}"),
                        data={"writer": writer, "i": i},
                    )  # fmt: skip
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(w,)) for w in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    deadline = time.monotonic() + 20
    while _count(db, AuditPending) and time.monotonic() < deadline:
        time.sleep(0.05)
    stop.set()
    sealer.join(20)
    assert errors == []
    total = writers * per_writer
    with db.read() as session:
        seqs = session.scalars(select(AuditSeal.seq).order_by(AuditSeal.seq)).all()
        sealed_events = session.scalar(select(func.count(func.distinct(AuditSeal.event_id))))
        checkpoints = session.scalar(select(func.count()).select_from(AuditCheckpoint))
    assert seqs == list(range(1, total + 1))
    assert sealed_events == total
    # How many batches the sealer made depends on how the threads interleave (on SQLite's
    # one writer, all of them may land before its next look): at least one, each verified.
    assert checkpoints is not None
    assert checkpoints >= 1
    report = verify(db, tmp_path)
    assert report.ok, report.problems
    assert (report.sealed, report.unsealed) == (total, 0)


def test_a_batch_is_bounded(db: Database, tmp_path: Path) -> None:
    append(db, 7)
    first = seal_batch(db, KEYS, max_events=5)
    second = seal_batch(db, KEYS, max_events=5)
    assert first is not None
    assert second is not None
    assert (first.first_seq, first.last_seq, second.first_seq, second.last_seq) == (1, 5, 6, 7)
    assert seal_batch(db, KEYS) is None
    seal_all(db, KEYS, CheckpointFolder(tmp_path))  # copies both to the folder
    assert verify(db, tmp_path).ok


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\x00")),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.text(max_size=8).filter(lambda k: "\x00" not in k), children, max_size=4
        )
    ),
    max_leaves=12,
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    data=st.dictionaries(
        st.text(max_size=10).filter(lambda k: "\x00" not in k), json_values, max_size=5
    )
)
def test_any_json_data_survives_the_round_trip_and_verifies(
    db: Database,
    tmp_path: Path,
    data: dict,  # type: ignore[type-arg]
) -> None:
    """The writer hashes data as it wrote it; verify hashes it as the database gives it
    back (Persian text, big integers, floats, nesting): they must agree, on both engines."""
    with db.transaction() as session:
        written = append_event(session, action="test.property", actor=ADMIN, data=data)
    with db.read() as session:
        stored = session.get(AuditEvent, written.id)
        assert stored is not None
        assert content_hash(stored) == written.content_hash
    seal_all(db, KEYS, CheckpointFolder(tmp_path))
    report = verify(db, tmp_path)
    assert report.ok, report.problems
