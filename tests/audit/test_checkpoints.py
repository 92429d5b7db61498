"""Signed checkpoints: an intruder who drops the triggers, deletes an event and re-hashes
the rest gets an intact chain, but not past the checkpoints; proofs are checked offline."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select, text, update
from typer.testing import CliRunner

from darvaza.audit import merkle
from darvaza.audit.checkpoints import (
    AuditKeys,
    check_proof,
    inclusion_proof,
    seal_checkpoint,
    verify_checkpoints,
)
from darvaza.audit.models import AuditChainHead, AuditCheckpoint, AuditEvent
from darvaza.audit.service import event_hash, verify_chain
from darvaza.cli import app as cli
from darvaza.clock import utcnow
from darvaza.db import Database
from tests.audit.test_chain import _append, _tamper

KEYS = AuditKeys.from_secret("a" * 40)
PUBLIC = KEYS.signing.public_key()


@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=1, max_value=70), st.data())
def test_every_leaf_has_a_path_to_the_root(size: int, data: st.DataObject) -> None:
    leaves = [bytes([i % 256]) * 32 for i in range(size)]
    top = merkle.root(leaves)
    index = data.draw(st.integers(min_value=0, max_value=size - 1))
    path = merkle.inclusion_path(index, leaves)
    assert merkle.root_from_path(leaves[index], index, size, path) == top
    other = (index + 1) % size
    if size > 1 and leaves[other] != leaves[index]:
        assert merkle.root_from_path(leaves[other], index, size, path) != top


def _verify(db: Database, folder: Path, max_delay: float = 300) -> object:
    return verify_checkpoints(db, PUBLIC, folder, max_delay_seconds=max_delay)


def test_checkpoints_chain_and_verify(db: Database, tmp_path: Path) -> None:
    folder = tmp_path / "checkpoints"
    assert seal_checkpoint(db, KEYS, folder) is None  # nothing to seal
    _append(db, 5)
    first = seal_checkpoint(db, KEYS, folder)
    assert first is not None
    assert (first.first_seq, first.last_seq) == (1, 5)
    _append(db, 3)
    report = _verify(db, folder)
    assert report.ok, report.problems  # type: ignore[attr-defined]
    assert report.unsealed == 3  # type: ignore[attr-defined]
    second = seal_checkpoint(db, KEYS, folder)
    assert second is not None
    assert (second.first_seq, second.last_seq) == (6, 8)
    report = _verify(db, folder)
    assert report.ok, report.problems  # type: ignore[attr-defined]
    assert (report.checkpoints, report.sealed_through, report.unsealed) == (2, 8, 0)  # type: ignore[attr-defined]
    with db.read() as session:
        bodies = [json.loads(c.body) for c in session.scalars(select(AuditCheckpoint))]
    assert bodies[1]["previous"] != bodies[0]["previous"]
    assert sorted(p.name for p in folder.glob("*.json")) == [
        "000000000000005.json",
        "000000000000008.json",
    ]


def _delete_and_rehash(db: Database, seq: int) -> None:
    """The attack the hash chain alone cannot see: drop the triggers, delete an event,
    renumber and re-hash everything after it, and move the head."""
    _tamper(db, f"DELETE FROM audit_events WHERE seq = {seq}")
    with db.engine.begin() as connection:
        previous = connection.execute(
            select(AuditEvent.hash).where(AuditEvent.seq == seq - 1)
        ).scalar_one()
    with db.transaction() as session:
        later = session.scalars(
            select(AuditEvent).where(AuditEvent.seq > seq).order_by(AuditEvent.seq)
        ).all()
        rows = []
        for event in later:
            session.expunge(event)
            event.seq -= 1
            event.prev_hash = previous
            event.hash = event_hash(event)
            previous = event.hash
            rows.append(event)
    with db.engine.begin() as connection:
        for event in rows:
            connection.execute(
                update(AuditEvent.__table__)
                .where(AuditEvent.__table__.c.seq == event.seq + 1)
                .values(seq=event.seq, prev_hash=event.prev_hash, hash=event.hash)
            )
        connection.execute(
            update(AuditChainHead.__table__).values(
                last_seq=rows[-1].seq if rows else seq - 1, last_hash=previous
            )
        )


def test_a_deleted_and_rehashed_event_is_caught(db: Database, tmp_path: Path) -> None:
    folder = tmp_path / "checkpoints"
    _append(db, 12)
    assert seal_checkpoint(db, KEYS, folder) is not None
    _delete_and_rehash(db, 7)
    assert verify_chain(db).ok  # the chain alone is fooled
    report = _verify(db, folder)
    assert not report.ok  # type: ignore[attr-defined]
    assert "are not the ones signed" in report.problems[0]  # type: ignore[attr-defined]
    assert report.first_bad_seq == 7  # type: ignore[attr-defined]
    env = {
        "DARVAZA_DATABASE_URL": db.url.render_as_string(hide_password=False),
        "DARVAZA_AUDIT_KEY": "a" * 40,
        "DARVAZA_AUDIT_CHECKPOINT_DIR": str(folder),
    }
    result = CliRunner().invoke(cli, ["audit", "verify"], env=env)
    assert result.exit_code == 1, result.output
    assert "First event that disagrees: 7" in result.output


def test_checkpoints_removed_or_forged_in_the_database_are_caught(
    db: Database, tmp_path: Path
) -> None:
    folder = tmp_path / "checkpoints"
    _append(db, 4)
    seal_checkpoint(db, KEYS, folder)
    _append(db, 4)
    seal_checkpoint(db, KEYS, folder)
    with db.engine.begin() as connection:
        connection.execute(text("DELETE FROM audit_checkpoints WHERE last_seq = 8"))
    report = _verify(db, folder)
    assert "in the folder but not in the database" in report.problems[0]  # type: ignore[attr-defined]
    forger = AuditKeys.from_secret("someone else's key, long enough......")
    seal_checkpoint(db, forger, tmp_path / "elsewhere")
    report = _verify(db, folder)
    assert "is not signed by the audit key" in report.problems[0]  # type: ignore[attr-defined]


def test_events_waiting_too_long_for_a_checkpoint_are_reported(
    db: Database, tmp_path: Path
) -> None:
    _append(db, 2)
    old = (utcnow() - timedelta(minutes=10)).isoformat(sep=" ")
    # As if the worker had been down for ten minutes (the events' times, moved back).
    _tamper(db, f"UPDATE audit_events SET occurred_at = '{old}'")
    report = _verify(db, tmp_path, max_delay=300)
    assert report.unsealed == 2  # type: ignore[attr-defined]
    assert "not sealed" in report.problems[0]  # type: ignore[attr-defined]


def test_a_proof_is_checked_without_the_database(db: Database, tmp_path: Path) -> None:
    folder = tmp_path / "checkpoints"
    _append(db, 9)
    seal_checkpoint(db, KEYS, folder)
    proof = inclusion_proof(db, 6)
    assert check_proof(proof, PUBLIC) == []
    edited = json.loads(json.dumps(proof))
    edited["event"]["data"] = {"i": 99}
    assert check_proof(edited, PUBLIC) != []
    moved = json.loads(json.dumps(proof))
    moved["index"] = 4
    assert check_proof(moved, PUBLIC) != []
    assert check_proof(proof, AuditKeys.from_secret("b" * 40).signing.public_key()) == [
        "the checkpoint is not signed by this key"
    ]
    env = {
        "DARVAZA_DATABASE_URL": db.url.render_as_string(hide_password=False),
        "DARVAZA_AUDIT_KEY": "a" * 40,
    }
    runner = CliRunner()
    printed = runner.invoke(cli, ["audit", "prove", "6"], env=env)
    assert printed.exit_code == 0, printed.output
    (tmp_path / "proof.json").write_text(printed.stdout, encoding="utf-8")
    key = runner.invoke(cli, ["audit", "public-key"], env=env).stdout.strip()
    held = runner.invoke(
        cli, ["audit", "check-proof", str(tmp_path / "proof.json"), "--public-key", key], env={}
    )
    assert held.exit_code == 0, held.output
    (tmp_path / "bad.json").write_text(json.dumps(edited), encoding="utf-8")
    refused = runner.invoke(
        cli, ["audit", "check-proof", str(tmp_path / "bad.json"), "--public-key", key], env={}
    )
    assert refused.exit_code == 1
    unsealed = runner.invoke(cli, ["audit", "prove", "99"], env=env)
    assert unsealed.exit_code == 1
