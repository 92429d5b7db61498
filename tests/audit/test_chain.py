"""The audit log: appended in the caller's transaction, hash-chained, never changed."""

from __future__ import annotations

import threading

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, select, text, update
from sqlalchemy.exc import DBAPIError, IntegrityError
from typer.testing import CliRunner

from darvaza.audit.models import GENESIS_HASH, AuditChainHead, AuditEvent
from darvaza.audit.service import (
    REDACTED,
    Actor,
    AuditLogError,
    append_event,
    verify_chain,
)
from darvaza.cli import app as cli
from darvaza.context import client_ip_var, request_id_var
from darvaza.db import Database

ADMIN = Actor.user("3f2c8a8e-0000-4000-8000-000000000001", "platform_admin")


def _append(db: Database, count: int, **fields: object) -> list[AuditEvent]:
    events = []
    with db.transaction() as session:
        for i in range(count):
            events.append(
                append_event(
                    session,
                    action=str(fields.get("action", "test.appended")),
                    actor=ADMIN,
                    data={"i": i},
                )
            )
    return events


def _tamper(db: Database, statement: str) -> None:
    """What an intruder with database access could do: get past the triggers, then write."""
    with db.engine.begin() as connection:
        if db.backend == "postgresql":
            connection.execute(text("ALTER TABLE audit_events DISABLE TRIGGER USER"))
            connection.execute(text("ALTER TABLE audit_chain_head DISABLE TRIGGER USER"))
        else:
            for trigger in (
                "audit_events_no_update",
                "audit_events_no_delete",
                "audit_chain_head_advance_only",
            ):
                connection.execute(text(f"DROP TRIGGER IF EXISTS {trigger}"))
        connection.execute(text(statement))


def test_events_chain_from_genesis(db: Database) -> None:
    first, second, third = _append(db, 3)
    assert [first.seq, second.seq, third.seq] == [1, 2, 3]
    assert first.prev_hash == GENESIS_HASH
    assert second.prev_hash == first.hash
    assert third.prev_hash == second.hash
    report = verify_chain(db)
    assert report.ok
    assert (report.events_checked, report.head_seq, report.head_hash) == (3, 3, third.hash)


def test_an_empty_log_verifies(db: Database) -> None:
    report = verify_chain(db)
    assert report.ok
    assert (report.events_checked, report.head_hash) == (0, GENESIS_HASH)


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


def test_event_and_change_land_together_or_not_at_all(db: Database) -> None:
    with pytest.raises(RuntimeError), db.transaction() as session:
        append_event(session, action="doomed", actor=Actor.system())
        raise RuntimeError("the change it records failed")
    with db.read() as session:
        assert session.scalars(select(AuditEvent)).all() == []
        assert session.get(AuditChainHead, 1).last_seq == 0  # type: ignore[union-attr]
    (event,) = _append(db, 1)
    assert event.seq == 1  # no gap left by the rolled-back append
    assert verify_chain(db).ok


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


def test_orm_cannot_change_or_delete_an_event(db: Database) -> None:
    _append(db, 1)
    with pytest.raises(AuditLogError), db.transaction() as session:
        event = session.scalars(select(AuditEvent)).one()
        event.reason = "rewritten"
    with pytest.raises(AuditLogError), db.transaction() as session:
        session.delete(session.scalars(select(AuditEvent)).one())
    with pytest.raises(AuditLogError), db.transaction() as session:
        session.execute(update(AuditEvent).values(reason="rewritten"))
    with pytest.raises(AuditLogError), db.transaction() as session:
        session.execute(delete(AuditEvent))
    assert verify_chain(db).ok


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_events SET reason = 'rewritten'",
        "DELETE FROM audit_events",
        "DELETE FROM audit_chain_head",
        "UPDATE audit_chain_head SET last_seq = 0",
        "UPDATE audit_chain_head SET last_seq = last_seq + 5",
    ],
)
def test_database_triggers_refuse_raw_changes(db: Database, statement: str) -> None:
    _append(db, 2)
    refused = r"append-only|never deleted|advances one"
    with pytest.raises(DBAPIError, match=refused), db.engine.begin() as connection:
        connection.execute(text(statement))
    assert verify_chain(db).ok


def test_postgresql_refuses_truncate(db: Database) -> None:
    if db.backend != "postgresql":
        pytest.skip("TRUNCATE exists only on PostgreSQL")
    _append(db, 1)
    for table in ("audit_events", "audit_chain_head"):
        with pytest.raises(DBAPIError, match="append-only"), db.engine.begin() as connection:
            connection.execute(text(f"TRUNCATE {table}"))


def test_a_fork_is_refused_by_the_database(db: Database) -> None:
    first, _ = _append(db, 2)
    with pytest.raises(IntegrityError), db.engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO audit_events (seq, occurred_at, actor_type, action, data, "
                "prev_hash, hash) VALUES (99, :at, 'system', 'forged', '{}', :prev, :hash)"
            ),
            {"at": first.occurred_at, "prev": first.hash, "hash": "f" * 64},
        )


def test_verify_finds_an_edited_event(db: Database) -> None:
    _append(db, 5)
    _tamper(db, "UPDATE audit_events SET reason = 'nothing to see' WHERE seq = 3")
    report = verify_chain(db)
    assert report.first_broken_seq == 3
    assert report.events_checked == 2
    assert "changed after it was written" in (report.problem or "")


def test_verify_finds_an_edited_data_field(db: Database) -> None:
    _append(db, 3)
    _tamper(db, """UPDATE audit_events SET data = '{"i": 99}' WHERE seq = 2""")
    assert verify_chain(db).first_broken_seq == 2


def test_verify_finds_a_removed_event(db: Database) -> None:
    _append(db, 5)
    _tamper(db, "DELETE FROM audit_events WHERE seq = 2")
    report = verify_chain(db)
    assert report.first_broken_seq == 2
    assert "missing" in (report.problem or "")


def test_verify_finds_events_cut_from_the_end(db: Database) -> None:
    _append(db, 5)
    _tamper(db, "DELETE FROM audit_events WHERE seq >= 4")
    report = verify_chain(db)
    assert report.first_broken_seq == 4
    assert "missing from the end" in (report.problem or "")


def test_verify_finds_a_rewritten_link(db: Database) -> None:
    events = _append(db, 4)
    _tamper(db, f"UPDATE audit_events SET prev_hash = '{'a' * 64}' WHERE seq = 3")
    assert verify_chain(db).first_broken_seq == 3
    assert events[2].seq == 3


def test_cli_verify_reports_the_first_broken_event(db: Database) -> None:
    runner = CliRunner()
    env = {"DARVAZA_DATABASE_URL": db.url.render_as_string(hide_password=False)}
    _append(db, 4)
    intact = runner.invoke(cli, ["audit", "verify"], env=env)
    assert intact.exit_code == 0, intact.output
    assert "intact: 4 events" in intact.output
    _tamper(db, "UPDATE audit_events SET actor_role = 'auditor' WHERE seq = 2")
    broken = runner.invoke(cli, ["audit", "verify"], env=env)
    assert broken.exit_code == 1
    assert "BROKEN at event 2" in broken.output


def test_cli_verify_on_an_unmigrated_database_says_so(empty_database_url: str) -> None:
    result = CliRunner().invoke(
        cli, ["audit", "verify"], env={"DARVAZA_DATABASE_URL": empty_database_url}
    )
    assert result.exit_code == 1
    assert "darvaza migrate" in result.output


def test_parallel_appenders_keep_one_chain(db: Database) -> None:
    """Eight writers on their own connections, each appending in many small transactions,
    with a verifier running alongside: one gapless chain, no fork, no false alarm."""
    writers, per_writer = 8, 25
    errors: list[BaseException] = []
    barrier = threading.Barrier(writers + 1)
    verifier_reports = []

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

    def verify_while_writing() -> None:
        barrier.wait()
        for _ in range(5):
            verifier_reports.append(verify_chain(db))

    threads = [threading.Thread(target=write, args=(w,)) for w in range(writers)]
    threads.append(threading.Thread(target=verify_while_writing))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert errors == []
    assert all(report.ok for report in verifier_reports), verifier_reports
    report = verify_chain(db)
    assert report.ok, report
    assert report.events_checked == writers * per_writer
    with db.read() as session:
        seqs = session.scalars(select(AuditEvent.seq).order_by(AuditEvent.seq)).all()
        per_writer_counts = {
            w: session.scalar(
                select(text("count(*)"))
                .select_from(AuditEvent)
                .where(AuditEvent.actor_id == f"w{w}")
            )
            for w in range(writers)
        }
    assert seqs == list(range(1, writers * per_writer + 1))
    assert set(per_writer_counts.values()) == {per_writer}


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
def test_any_json_data_survives_the_round_trip_and_verifies(db: Database, data: dict) -> None:  # type: ignore[type-arg]
    """The hash covers data as written; it must still match once the database gives it back
    (Persian text, big integers, floats, nesting) on both engines."""
    with db.transaction() as session:
        append_event(session, action="test.property", actor=ADMIN, data=data)
    report = verify_chain(db)
    assert report.ok, report
