"""Seals and signed checkpoints: an intruder with the database's owner role can switch the
triggers off and rewrite, delete or cut events, but without the audit key every such
change is found and the first event it touches is named; proofs are checked offline."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from typer.testing import CliRunner

from darvaza.audit import merkle
from darvaza.audit.checkpoints import (
    AuditKeys,
    CheckpointFolder,
    copy_to_folder,
    seal_all,
    seal_batch,
)
from darvaza.audit.models import AuditCheckpoint, AuditEvent, AuditSeal
from darvaza.audit.service import content_hash, seal_hash
from darvaza.audit.verify import check_proof, inclusion_proof
from darvaza.cli import app as cli
from darvaza.clock import utcnow
from darvaza.db import Database
from tests.audit.support import KEYS, SECRET, append, tamper, verify

PUBLIC = KEYS.signing.public_key()
OTHER_KEYS = AuditKeys.from_secret("someone else's key, long enough......")


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


def _sealed_log(db: Database, folder: Path, *batches: int) -> list[AuditEvent]:
    """Events appended and sealed in batches of the given sizes (one checkpoint each)."""
    events = []
    for size in batches:
        events += append(db, size)
        assert seal_all(db, KEYS, CheckpointFolder(folder)) == size
    return events


def test_checkpoints_chain_and_are_copied_to_the_folder(db: Database, tmp_path: Path) -> None:
    folder = tmp_path / "checkpoints"
    assert seal_batch(db, KEYS) is None  # nothing to seal
    _sealed_log(db, folder, 5)
    append(db, 3)
    report = verify(db, folder)
    assert report.ok, report.problems
    assert (report.sealed, report.checkpoints, report.unsealed) == (5, 1, 3)
    seal_all(db, KEYS, CheckpointFolder(folder))
    report = verify(db, folder)
    assert report.ok, report.problems
    assert (report.checkpoints, report.sealed_through, report.unsealed) == (2, 8, 0)
    (day,) = folder.glob("*.jsonl")
    lines = [json.loads(line) for line in day.read_text().splitlines()]
    assert [line["last_seq"] for line in lines] == [5, 8]
    first, second = (json.loads(line["body"]) for line in lines)
    assert (second["first_seq"], second["previous"]) != (first["first_seq"], first["previous"])
    assert lines[0]["public_key"] == KEYS.public_hex


def test_an_edited_event_is_named(db: Database, tmp_path: Path) -> None:
    events = _sealed_log(db, tmp_path, 5)
    tamper(db, f"UPDATE audit_events SET reason = 'nothing to see' WHERE id = {events[2].id}")
    report = verify(db, tmp_path)
    assert "was changed after it was sealed" in report.problems[0]
    assert (report.first_bad_seq, report.first_bad_event) == (3, events[2].id)
    assert report.sealed == 2


def test_an_edited_event_with_its_seal_rehashed_is_caught_by_the_key(
    db: Database, tmp_path: Path
) -> None:
    events = _sealed_log(db, tmp_path, 4)
    tamper(db, f"""UPDATE audit_events SET data = '{{"i": 99}}' WHERE id = {events[1].id}""")
    with db.read() as session:
        edited = session.get(AuditEvent, events[1].id)
        assert edited is not None
        forged = seal_hash(2, edited.id, content_hash(edited))
    tamper(db, f"UPDATE audit_seals SET hash = '{forged}' WHERE seq = 2")
    report = verify(db, tmp_path)
    assert "was not made with the audit key" in report.problems[0]
    assert (report.first_bad_seq, report.first_bad_event) == (2, events[1].id)


def _delete_and_reseal(db: Database, seq: int, keys: AuditKeys) -> None:
    """The deletion the old hash chain could not see: remove an event and its seal, then
    renumber, re-hash and re-chain every seal after it (with whatever key one has)."""
    with db.read() as session:
        rows = session.execute(
            select(AuditSeal, AuditEvent).join(AuditEvent).order_by(AuditSeal.seq)
        ).all()
    statements = [f"DELETE FROM audit_seals WHERE seq >= {seq}",
                  f"DELETE FROM audit_events WHERE id = {rows[seq - 1][1].id}"]  # fmt: skip
    mac = rows[seq - 2][0].mac if seq > 1 else "0" * 64
    for new_seq, (_, event) in enumerate(rows[seq:], start=seq):
        sealed = seal_hash(new_seq, event.id, content_hash(event))
        mac = keys.seal_mac(mac, sealed)
        statements.append(
            f"INSERT INTO audit_seals (seq, event_id, hash, mac) "
            f"VALUES ({new_seq}, {event.id}, '{sealed}', '{mac}')"
        )
    tamper(db, *statements)


def test_a_deleted_and_resealed_event_is_caught(db: Database, tmp_path: Path) -> None:
    events = _sealed_log(db, tmp_path, 12)
    _delete_and_reseal(db, 7, OTHER_KEYS)
    report = verify(db, tmp_path)
    assert "was not made with the audit key" in report.problems[0]
    assert (report.first_bad_seq, report.first_bad_event) == (7, events[7].id)
    env = {
        "DARVAZA_DATABASE_URL": db.url.render_as_string(hide_password=False),
        "DARVAZA_AUDIT_KEY": SECRET,
        "DARVAZA_AUDIT_CHECKPOINT_DIR": str(tmp_path),
    }
    result = CliRunner().invoke(cli, ["audit", "verify"], env=env)
    assert result.exit_code == 1, result.output
    assert f"First disagreement at seal 7, event {events[7].id}." in result.output


def test_resealing_with_the_key_is_still_caught_by_the_checkpoint(
    db: Database, tmp_path: Path
) -> None:
    """Even with the seals' key (say, a leaked one), the signed checkpoints hold."""
    _sealed_log(db, tmp_path, 6)
    _delete_and_reseal(db, 3, KEYS)
    report = verify(db, tmp_path)
    assert (
        "are not the ones signed" in report.problems[0]
        or "signs seals that are gone" in (report.problems[0])
    )


def test_a_log_cut_at_the_end_is_caught_by_the_folder(db: Database, tmp_path: Path) -> None:
    events = _sealed_log(db, tmp_path, 4, 4)
    cut = ", ".join(str(e.id) for e in events[4:])
    tamper(
        db,
        "DELETE FROM audit_checkpoints WHERE last_seq = 8",
        "DELETE FROM audit_seals WHERE seq > 4",
        f"DELETE FROM audit_pending WHERE event_id IN ({cut})",
        f"DELETE FROM audit_events WHERE id IN ({cut})",
    )
    report = verify(db, tmp_path)
    assert "in the folder" in report.problems[0]
    assert "the log was cut after seal 4" in report.problems[0]
    assert report.first_bad_seq == 5


def test_a_cut_is_caught_even_behind_a_copy_not_yet_written(db: Database, tmp_path: Path) -> None:
    """The newest checkpoint left in the database is young and its copy is not in the
    folder yet (allowed for a minute); the folder's copy of the cut checkpoint after it
    must still be seen, not taken for the young one's."""
    events = _sealed_log(db, tmp_path, 3, 3, 3)
    (day,) = tmp_path.glob("*.jsonl")
    lines = day.read_text().splitlines()
    day.write_text("\n".join([lines[0], lines[2]]) + "\n")  # the copy through 6 is missing
    cut = ", ".join(str(e.id) for e in events[6:])
    tamper(
        db,
        "DELETE FROM audit_checkpoints WHERE last_seq = 9",
        "DELETE FROM audit_seals WHERE seq > 6",
        f"DELETE FROM audit_events WHERE id IN ({cut})",
    )
    report = verify(db, tmp_path)
    assert "the log was cut after seal 6" in report.problems[0]


def test_a_removed_seal_or_checkpoint_is_caught(db: Database, tmp_path: Path) -> None:
    _sealed_log(db, tmp_path, 3, 3)
    tamper(db, "DELETE FROM audit_checkpoints WHERE last_seq = 3")
    report = verify(db, tmp_path)
    assert "seal 1 is in no signed checkpoint" in report.problems[0]


def test_a_removed_seal_is_named(db: Database, tmp_path: Path) -> None:
    _sealed_log(db, tmp_path, 3, 3)
    tamper(db, "DELETE FROM audit_seals WHERE seq = 5")
    report = verify(db, tmp_path)
    assert "seal 5 is missing" in report.problems[0]
    assert report.first_bad_seq == 5


def test_a_checkpoint_forged_with_another_key_is_caught(db: Database, tmp_path: Path) -> None:
    _sealed_log(db, tmp_path, 4)
    append(db, 2)
    forged = seal_batch(db, OTHER_KEYS)
    assert forged is not None
    copy_to_folder(db, OTHER_KEYS, CheckpointFolder(tmp_path / "elsewhere"), 0)
    report = verify(db, tmp_path)
    assert "was not made with the audit key" in report.problems[0]  # its seals, first


def test_a_checkpoint_signed_with_another_key_is_caught(db: Database, tmp_path: Path) -> None:
    _sealed_log(db, tmp_path, 4)
    with db.read() as session:
        body = session.scalars(select(AuditCheckpoint.body)).one()
    forged = OTHER_KEYS.signing.sign(body.encode()).hex()
    tamper(db, f"UPDATE audit_checkpoints SET signature = '{forged}'")
    report = verify(db, tmp_path)
    assert "checkpoint 1..4 is not signed by the audit key" in report.problems[0]


def test_the_folders_copy_must_match(db: Database, tmp_path: Path) -> None:
    _sealed_log(db, tmp_path, 3)
    (day,) = tmp_path.glob("*.jsonl")
    line = json.loads(day.read_text())
    line["signature"] = "00" * 64
    day.write_text(json.dumps(line) + "\n")
    assert "differs from its copy" in verify(db, tmp_path).problems[0]
    day.write_text("not json\n")
    assert "unreadable line" in verify(db, tmp_path).problems[0]


def test_a_checkpoint_missing_from_the_folder_is_copied_again(db: Database, tmp_path: Path) -> None:
    """The sealer commits, then writes the folder: a crash in between leaves the copy
    missing, which the next pass (or `darvaza audit seal`) writes."""
    append(db, 3)
    assert seal_batch(db, KEYS) is not None  # as if the process died right after
    assert verify(db, tmp_path).ok  # young: the copy may be on its way
    assert copy_to_folder(db, KEYS, CheckpointFolder(tmp_path), 0) == 3
    assert verify(db, tmp_path).ok
    assert seal_all(db, KEYS, CheckpointFolder(tmp_path)) == 0  # and is not copied twice
    (day,) = tmp_path.glob("*.jsonl")
    assert len(day.read_text().splitlines()) == 1


def test_events_waiting_too_long_for_their_seal_are_reported(db: Database, tmp_path: Path) -> None:
    append(db, 2)
    old = (utcnow() - timedelta(minutes=10)).isoformat(sep=" ")
    # As if every worker had been down for ten minutes (the events' times, moved back).
    tamper(db, f"UPDATE audit_events SET occurred_at = '{old}'")
    report = verify(db, tmp_path, max_delay=300)
    assert report.unsealed == 2
    assert "not sealed" in report.problems[0]


def test_an_event_taken_out_of_the_sealers_queue_is_still_reported(
    db: Database, tmp_path: Path
) -> None:
    (event,) = append(db, 1)
    tamper(db, f"DELETE FROM audit_pending WHERE event_id = {event.id}")
    assert seal_all(db, KEYS, CheckpointFolder(tmp_path)) == 0
    report = verify(db, tmp_path, max_delay=300)
    assert report.unsealed == 1  # counted from the events, not from the queue


@pytest.mark.parametrize("batches", [(9,), (2, 5, 1)])
def test_a_proof_is_checked_without_the_database(
    db: Database, tmp_path: Path, batches: tuple[int, ...]
) -> None:
    events = _sealed_log(db, tmp_path, *batches)
    target = events[5 if len(events) > 5 else -1]
    proof = inclusion_proof(db, target.id)
    assert proof["id"] == target.id
    assert check_proof(proof, PUBLIC) == []
    edited = json.loads(json.dumps(proof))
    edited["event"]["data"] = {"i": 99}
    assert check_proof(edited, PUBLIC) != []
    for field in ("id", "seq"):
        renumbered = json.loads(json.dumps(proof))
        renumbered[field] += 1
        assert check_proof(renumbered, PUBLIC) != []
    moved = json.loads(json.dumps(proof))
    moved["index"] = (moved["index"] + 1) % max(2, json.loads(proof["checkpoint"]["body"])["size"])
    assert check_proof(moved, PUBLIC) != []
    assert check_proof(proof, OTHER_KEYS.signing.public_key()) == [
        "the checkpoint is not signed by this key"
    ]


def test_cli_prove_and_check_proof(db: Database, tmp_path: Path) -> None:
    events = _sealed_log(db, tmp_path, 9)
    env = {
        "DARVAZA_DATABASE_URL": db.url.render_as_string(hide_password=False),
        "DARVAZA_AUDIT_KEY": SECRET,
        "DARVAZA_AUDIT_CHECKPOINT_DIR": str(tmp_path),
    }
    runner = CliRunner()
    intact = runner.invoke(cli, ["audit", "verify"], env=env)
    assert intact.exit_code == 0, intact.output
    assert "intact: 9 sealed events in 1 signed checkpoints; 0 events not sealed" in intact.output
    printed = runner.invoke(cli, ["audit", "prove", str(events[5].id)], env=env)
    assert printed.exit_code == 0, printed.output
    (tmp_path / "proof.json").write_text(printed.stdout, encoding="utf-8")
    key = runner.invoke(cli, ["audit", "public-key"], env=env).stdout.strip()
    assert key == KEYS.public_hex
    held = runner.invoke(
        cli, ["audit", "check-proof", str(tmp_path / "proof.json"), "--public-key", key], env={}
    )
    assert held.exit_code == 0, held.output
    assert f"event {events[5].id} is seal 6" in held.output
    edited = json.loads(printed.stdout)
    edited["event"]["reason"] = "rewritten"
    (tmp_path / "bad.json").write_text(json.dumps(edited), encoding="utf-8")
    refused = runner.invoke(
        cli, ["audit", "check-proof", str(tmp_path / "bad.json"), "--public-key", key], env={}
    )
    assert refused.exit_code == 1
    append(db, 1)
    unsealed = runner.invoke(cli, ["audit", "prove", str(events[-1].id + 1)], env=env)
    assert unsealed.exit_code == 1
    assert "not in a signed checkpoint" in unsealed.output
    sealed = runner.invoke(cli, ["audit", "seal"], env=env)
    assert "Sealed 1 events." in sealed.output


def test_cli_verify_on_an_unmigrated_database_says_so(empty_database_url: str) -> None:
    result = CliRunner().invoke(
        cli, ["audit", "verify"], env={"DARVAZA_DATABASE_URL": empty_database_url}
    )
    assert result.exit_code == 1
    assert "darvaza migrate" in result.output
