"""Checking the audit log: `verify_log` walks the seals, checkpoints and their copies;
`inclusion_proof` and `check_proof` prove one event is in a signed checkpoint."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import ColumnElement, Row, func, select
from sqlalchemy.orm import Session

from darvaza.audit import merkle
from darvaza.audit.checkpoints import (
    _READ_BATCH,
    COPY_GRACE,
    EVENT_COLUMNS,
    AuditKeys,
    CheckpointFolder,
    FolderEntry,
    _digest,
    _signed,
)
from darvaza.audit.models import (
    GENESIS_HASH,
    AuditCheckpoint,
    AuditEvent,
    AuditSeal,
)
from darvaza.audit.service import canonical_bytes, canonical_content, content_hash, seal_hash
from darvaza.clock import utcnow
from darvaza.db import Database

# --- Verifying ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Resume:
    """Where a walk may start again: after the last seal of a verified checkpoint, with
    that seal's mac and that checkpoint's digest (what the next seal and checkpoint chain
    from)."""

    through_seq: int
    mac: str
    previous: str

    def as_state(self) -> dict[str, Any]:
        return {"through_seq": self.through_seq, "mac": self.mac, "previous": self.previous}

    @classmethod
    def from_state(cls, state: Any) -> Resume | None:
        try:
            return cls(int(state["through_seq"]), str(state["mac"]), str(state["previous"]))
        except (KeyError, TypeError, ValueError):
            return None


@dataclass
class LogReport:
    sealed: int = 0
    checkpoints: int = 0
    sealed_through: int = 0
    unsealed: int = 0
    oldest_unsealed_at: datetime | None = None
    oldest_unsealed_seconds: float | None = None  # its wait, when verify looked
    problems: list[str] = field(default_factory=list)
    first_bad_seq: int | None = None
    first_bad_event: int | None = None
    # The first place the chain itself disagrees (a slow sealer is a problem, not this).
    broken: str | None = None
    # After the last checkpoint verified: where the next walk may start.
    resume: Resume | None = None

    @property
    def ok(self) -> bool:
        return not self.problems


class _Broken(Exception):
    def __init__(self, problem: str, seq: int | None, event_id: int | None = None) -> None:
        super().__init__(problem)
        self.problem, self.seq, self.event_id = problem, seq, event_id


def verify_log(
    db: Database,
    keys: AuditKeys,
    folder: CheckpointFolder,
    *,
    max_delay_seconds: float,
    resume: Resume | None = None,
    restored_copy: bool = False,
) -> LogReport:
    """Walk every seal in order, recomputing its hash from the event and its mac from the
    one before; check each checkpoint's signature, chain and Merkle root against the seals
    it covers and its copy in the folder; then count what is not sealed yet. Stops at the
    first thing that disagrees and names it. Memory stays flat however long the log.

    With `resume` (an earlier walk's `report.resume`), only what was sealed after it is
    walked, from the checkpoint it ended at, which must still be there as it was: the
    ops check's frequent runs, between whole walks.

    A `restored_copy` (a restore point's database) ends where the log stood when it was
    taken: the folder's copies of later checkpoints are expected, not a cut."""
    report = LogReport()
    try:
        _walk(db, keys, folder, report, resume, restored_copy)
    except _Broken as broken:
        report.problems.append(broken.problem)
        report.broken = broken.problem
        report.first_bad_seq, report.first_bad_event = broken.seq, broken.event_id
    with db.read() as session:
        waiting = session.execute(
            select(func.count(), func.min(AuditEvent.occurred_at)).where(
                ~select(AuditSeal.seq).where(AuditSeal.event_id == AuditEvent.id).exists()
            )
        ).one()
    report.unsealed, report.oldest_unsealed_at = int(waiting[0]), waiting[1]
    if report.oldest_unsealed_at is not None:
        age = (utcnow() - report.oldest_unsealed_at).total_seconds()
        report.oldest_unsealed_seconds = age
        if age > max_delay_seconds:
            report.problems.append(
                f"{report.unsealed} events are not sealed; the oldest for {age:.0f} s "
                f"(more than {max_delay_seconds:.0f} s): is a worker running?"
            )
    return report


def _walk(
    db: Database, keys: AuditKeys, folder: CheckpointFolder, report: LogReport,
    resume: Resume | None, restored_copy: bool,
) -> None:  # fmt: skip
    public = keys.signing.public_key()
    copies = _Lookahead(folder.entries())
    with db.read() as session:
        after = _start_after(session, resume, copies, report)
        checkpoints = iter(
            session.scalars(
                select(AuditCheckpoint)
                .where(AuditCheckpoint.first_seq > after)
                .order_by(AuditCheckpoint.first_seq)
                .execution_options(yield_per=1000)
            )
        )
        rows = session.execute(
            select(AuditSeal.seq, AuditSeal.event_id.label("sealed_id"), AuditSeal.hash,
                   AuditSeal.mac, *EVENT_COLUMNS)
            .outerjoin(AuditEvent, AuditEvent.id == AuditSeal.event_id)
            .where(AuditSeal.seq > after)
            .order_by(AuditSeal.seq)
            .execution_options(yield_per=_READ_BATCH)
        )  # fmt: skip
        checkpoint = next(checkpoints, None)
        mac, previous = (resume.mac, resume.previous) if resume else (GENESIS_HASH, GENESIS_HASH)
        leaves: list[bytes] = []
        for expected, row in enumerate(rows, start=after + 1):
            _check_seal(keys, row, expected, mac)
            mac = row.mac
            if checkpoint is None or row.seq < checkpoint.first_seq:
                raise _Broken(f"seal {row.seq} is in no signed checkpoint", row.seq, row.id)
            leaves.append(bytes.fromhex(row.hash))
            if row.seq == checkpoint.last_seq:
                _check_checkpoint(public, checkpoint, previous, leaves)
                _check_copy(checkpoint, copies)
                report.checkpoints += 1
                report.sealed_through = checkpoint.last_seq
                previous, leaves = _digest(checkpoint.body), []
                report.resume = Resume(checkpoint.last_seq, row.mac, previous)
                checkpoint = next(checkpoints, None)
            report.sealed += 1
        if checkpoint is not None:
            raise _Broken(
                f"checkpoint {checkpoint.first_seq}..{checkpoint.last_seq} signs seals that "
                "are gone",
                report.sealed + 1,
            )
        if leaves:
            raise _Broken(
                f"seals {report.sealed_through + 1}..{report.sealed} are in no signed checkpoint",
                report.sealed_through + 1,
            )
    if not restored_copy:
        _check_no_copy_left(copies, report)


def _check_no_copy_left(copies: _Lookahead, report: LogReport) -> None:
    """A copy in the folder past the database's last checkpoint: the log was cut."""
    if (extra := copies.next) is not None:
        if extra.last_seq is None:
            raise _Broken(f"the checkpoint folder has an unreadable line ({extra.where})", None)
        raise _Broken(
            f"the checkpoint through seal {extra.last_seq} is in the folder ({extra.where}) "
            "but not in the database: the log was cut after seal "
            f"{report.sealed_through}",
            report.sealed_through + 1,
        )


def _start_after(
    session: Session, resume: Resume | None, copies: _Lookahead, report: LogReport
) -> int:
    """The last seal an earlier walk verified (0 for a whole walk), once the checkpoint it
    ended at and that seal are found still as it saw them."""
    if resume is None:
        return 0
    checkpoint = session.scalars(
        select(AuditCheckpoint).where(AuditCheckpoint.last_seq == resume.through_seq)
    ).first()
    seal_mac = session.scalar(select(AuditSeal.mac).where(AuditSeal.seq == resume.through_seq))
    if checkpoint is None or _digest(checkpoint.body) != resume.previous:
        raise _Broken(
            f"the checkpoint through seal {resume.through_seq}, verified before, is gone or "
            "changed",
            resume.through_seq,
        )
    if seal_mac != resume.mac:
        raise _Broken(
            f"seal {resume.through_seq}, verified before, is gone or changed", resume.through_seq
        )
    after = resume.through_seq
    while copies.next is not None and (copies.next.last_seq or after + 1) <= after:
        copies.take()  # copies of checkpoints an earlier walk verified
    report.sealed = report.sealed_through = after
    report.resume = resume
    return after


def _check_seal(keys: AuditKeys, row: Row[Any], expected: int, previous_mac: str) -> None:
    if row.seq != expected:
        missing = (
            f"seal {expected} is"
            if row.seq == expected + 1
            else (f"seals {expected}..{row.seq - 1} are")
        )
        raise _Broken(f"{missing} missing", expected)
    if row.id is None:
        raise _Broken(
            f"event {row.sealed_id}, sealed as {row.seq}, is gone", row.seq, row.sealed_id
        )
    if seal_hash(row.seq, row.id, content_hash(row)) != row.hash:
        raise _Broken(f"event {row.id} (seal {row.seq}) was changed after it was sealed",
                      row.seq, row.id)  # fmt: skip
    if not hmac.compare_digest(keys.seal_mac(previous_mac, row.hash), row.mac):
        raise _Broken(
            f"the seal of event {row.id} (seal {row.seq}) was not made with the audit key",
            row.seq, row.id,
        )  # fmt: skip


def _check_checkpoint(
    public: Ed25519PublicKey, checkpoint: AuditCheckpoint, previous: str, leaves: list[bytes]
) -> None:
    name = f"checkpoint {checkpoint.first_seq}..{checkpoint.last_seq}"
    if not _signed(public, checkpoint.body, checkpoint.signature):
        raise _Broken(f"{name} is not signed by the audit key", checkpoint.first_seq)
    body = json.loads(checkpoint.body)
    if (body["first_seq"], body["last_seq"]) != (checkpoint.first_seq, checkpoint.last_seq):
        raise _Broken(f"{name} does not say the range it is filed under", checkpoint.first_seq)
    if body["previous"] != previous:
        raise _Broken(f"{name} does not follow the checkpoint before it", checkpoint.first_seq)
    if body["size"] != len(leaves) or merkle.root(leaves).hex() != body["root"]:
        raise _Broken(f"the seals of {name} are not the ones signed", checkpoint.first_seq)


class _Lookahead:
    """The folder's entries, with a look at the next one before taking it: an entry for a
    later checkpoint must stay for that checkpoint (or for the end of the walk)."""

    def __init__(self, entries: Iterator[FolderEntry]) -> None:
        self._entries = entries
        self.next: FolderEntry | None = next(entries, None)

    def take(self) -> None:
        self.next = next(self._entries, None)


def _check_copy(checkpoint: AuditCheckpoint, copies: _Lookahead) -> None:
    name = f"checkpoint {checkpoint.first_seq}..{checkpoint.last_seq}"
    copy = copies.next
    if copy is not None and copy.last_seq is None:
        raise _Broken(f"the checkpoint folder has an unreadable line ({copy.where})",
                      checkpoint.first_seq)  # fmt: skip
    if copy is not None and copy.last_seq is not None and copy.last_seq < checkpoint.last_seq:
        raise _Broken(
            f"the checkpoint through seal {copy.last_seq} is in the folder "
            f"({copy.where}) but not in the database",
            copy.last_seq,
        )
    if copy is not None and copy.last_seq == checkpoint.last_seq:
        copies.take()
        if (copy.body, copy.signature) != (checkpoint.body, checkpoint.signature):
            raise _Broken(f"{name} differs from its copy in the folder ({copy.where})",
                          checkpoint.first_seq)  # fmt: skip
        return
    if checkpoint.created_at < utcnow() - COPY_GRACE:
        raise _Broken(f"{name} has no copy in the checkpoint folder", checkpoint.first_seq)


# --- Proofs -------------------------------------------------------------------------------


def covering_checkpoint() -> ColumnElement[bool]:
    """Joins a seal to the checkpoint whose range holds it."""
    return (AuditCheckpoint.first_seq <= AuditSeal.seq) & (
        AuditCheckpoint.last_seq >= AuditSeal.seq
    )


def inclusion_proof(db: Database, event_id: int) -> dict[str, Any]:
    """A proof that event `event_id` is in a signed checkpoint, checkable without the
    database: the event with its place, the path from its hash to the checkpoint's root,
    and the checkpoint."""
    with db.read() as session:
        found = session.execute(
            select(AuditEvent, AuditSeal, AuditCheckpoint)
            .join(AuditSeal, AuditSeal.event_id == AuditEvent.id)
            .join(AuditCheckpoint, covering_checkpoint())
            .where(AuditEvent.id == event_id)
        ).one_or_none()
        if found is None:
            raise LookupError(f"event {event_id} is not in a signed checkpoint (yet)")
        event, seal, checkpoint = found
        hashes = _seal_hashes(session, checkpoint.first_seq, checkpoint.last_seq)
    index = seal.seq - checkpoint.first_seq
    return {
        "event": json.loads(canonical_content(event)),
        "id": event.id,
        "seq": seal.seq,
        "event_hash": seal.hash,
        "index": index,
        "path": [node.hex() for node in merkle.inclusion_path(index, hashes)],
        "checkpoint": {"body": checkpoint.body, "signature": checkpoint.signature},
    }


def _seal_hashes(session: Session, first: int, last: int) -> list[bytes]:
    return [
        bytes.fromhex(h)
        for h in session.scalars(
            select(AuditSeal.hash)
            .where(AuditSeal.seq >= first, AuditSeal.seq <= last)
            .order_by(AuditSeal.seq)
        )
    ]


def check_proof(proof: dict[str, Any], public_key: Ed25519PublicKey) -> list[str]:
    """What is wrong with a proof (empty: it holds). Needs nothing but the proof and the
    audit key's public half."""
    try:
        body_text = proof["checkpoint"]["body"]
        public_key.verify(bytes.fromhex(proof["checkpoint"]["signature"]), body_text.encode())
    except (InvalidSignature, ValueError, KeyError, TypeError):
        return ["the checkpoint is not signed by this key"]
    problems: list[str] = []
    body = json.loads(body_text)
    try:
        content = hashlib.sha256(canonical_bytes(proof["event"])).hexdigest()
        sealed = seal_hash(int(proof["seq"]), int(proof["id"]), content)
    except (KeyError, TypeError, ValueError):
        sealed = None
    if sealed != proof.get("event_hash"):
        problems.append("the event's content, id and place do not hash to the event hash")
    try:
        path = [bytes.fromhex(node) for node in proof["path"]]
        found = merkle.root_from_path(
            bytes.fromhex(proof["event_hash"]), int(proof["index"]), int(body["size"]), path
        )
    except (KeyError, TypeError, ValueError):
        found = None
    if found is None or found.hex() != body["root"]:
        problems.append("the path does not lead to the checkpoint's root")
    if proof.get("seq") != body["first_seq"] + int(proof.get("index", -1)):
        problems.append("the event's place is not its place in the checkpoint")
    return problems
