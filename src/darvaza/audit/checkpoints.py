"""Sealing the audit log and checking it: the sealer's batch, the checkpoint folder,
`verify`, and inclusion proofs.

Writers only insert events (`service.append_event`); a trigger queues each in
`audit_pending`. The sealer, one at a time, takes a batch of committed events in id order
and, in one transaction:

- gives each its place `seq` (1, 2, 3, ... across the whole log, no gaps),
- its `hash` (SHA-256 of its content and place) and its `mac`: HMAC with a key derived
  from `DARVAZA_AUDIT_KEY`, over the previous seal's mac and this hash, so the seals form
  one keyed chain that nobody without the key can extend, edit or shorten in the middle;
- signs a checkpoint of the batch with an Ed25519 key derived from the same secret: the
  range, the Merkle root of the batch's hashes (`merkle.py`), the newest hash, and the
  digest of the checkpoint before.

Each checkpoint is then appended to a file in `DARVAZA_AUDIT_CHECKPOINT_DIR` (one JSON
line per checkpoint, one file per day), outside the database: someone who cuts the tail
of the log and its checkpoints from the database cannot cut the folder's copy. The secret
never lives in the database; `darvaza audit public-key` prints what a proof is checked
with.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, cast

import psycopg
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from sqlalchemy import ColumnElement, Row, Table, delete, func, insert, select, text
from sqlalchemy.orm import Session

from darvaza.audit import merkle
from darvaza.audit.models import (
    GENESIS_HASH,
    AuditCheckpoint,
    AuditEvent,
    AuditPending,
    AuditSeal,
)
from darvaza.audit.service import canonical_bytes, canonical_content, content_hash, seal_hash
from darvaza.clock import utcnow
from darvaza.db import Database, changed_rows

MAX_BATCH = 20_000
_READ_BATCH = 5_000
# Held for a sealing transaction on PostgreSQL, so two sealers never interleave (SQLite's
# write lock does the same there). The continuous sealer's leadership uses another key.
SEALER_LOCK = 0x64617276  # "darv"
# A checkpoint younger than this may not have reached the folder yet: not a problem.
COPY_GRACE = timedelta(seconds=60)
EVENT_COLUMNS = tuple(AuditEvent.__table__.columns)


@dataclass(frozen=True)
class AuditKeys:
    """The two keys derived from `DARVAZA_AUDIT_KEY`: one signs checkpoints, one chains
    the seals (HMAC)."""

    signing: Ed25519PrivateKey
    mac: bytes

    @classmethod
    def from_secret(cls, secret: str) -> AuditKeys:
        def derive(label: bytes) -> bytes:
            return hmac.new(secret.encode(), label, hashlib.sha256).digest()

        return cls(
            Ed25519PrivateKey.from_private_bytes(derive(b"darvaza audit checkpoint signing key")),
            derive(b"darvaza audit seal chain key"),
        )

    @property
    def public_hex(self) -> str:
        return public_hex(self.signing.public_key())

    def seal_mac(self, previous_mac: str, seal_hash: str) -> str:
        message = bytes.fromhex(previous_mac) + bytes.fromhex(seal_hash)
        return hmac.new(self.mac, message, hashlib.sha256).hexdigest()


def public_hex(key: Ed25519PublicKey) -> str:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw).hex()


def _digest(body: str) -> str:
    return hashlib.sha256(body.encode()).hexdigest()


# --- The checkpoint folder ----------------------------------------------------------------


@dataclass(frozen=True)
class FolderEntry:
    last_seq: int | None  # None: the line could not be read
    body: str
    signature: str
    where: str


class CheckpointFolder:
    """Checkpoints outside the database: `YYYY-MM-DD.jsonl` files, one line per checkpoint
    in the order they were sealed (so names and lines sort as the log does)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def files(self) -> list[Path]:
        return sorted(self.path.glob("*.jsonl")) if self.path.is_dir() else []

    def append(self, checkpoints: Sequence[AuditCheckpoint], public_key: str) -> None:
        if not checkpoints:
            return
        self.path.mkdir(parents=True, exist_ok=True)
        lines = "".join(
            json.dumps(
                {"last_seq": c.last_seq, "body": c.body, "signature": c.signature,
                 "public_key": public_key},
                separators=(",", ":"),
            ) + "\n"
            for c in checkpoints
        )  # fmt: skip
        target = self.path / f"{utcnow().date().isoformat()}.jsonl"
        # One write of whole lines with O_APPEND, then fsync: a copy is either there or not.
        descriptor = os.open(target, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        try:
            os.write(descriptor, lines.encode())
            os.fsync(descriptor)
        finally:
            os.close(descriptor)

    def entries(self) -> Iterator[FolderEntry]:
        for path in self.files():
            yield from self._read(path)

    def last_seq(self) -> int:
        """The newest checkpoint the folder holds (0: none)."""
        for path in reversed(self.files()):
            seqs = [e.last_seq for e in self._read(path) if e.last_seq is not None]
            if seqs:
                return max(seqs)
        return 0

    @staticmethod
    def _read(path: Path) -> Iterator[FolderEntry]:
        with path.open(encoding="utf-8") as lines:
            for number, line in enumerate(lines, start=1):
                where = f"{path.name} line {number}"
                try:
                    item = json.loads(line)
                    yield FolderEntry(int(item["last_seq"]), item["body"], item["signature"], where)
                except (ValueError, KeyError, TypeError):
                    yield FolderEntry(None, "", "", where)


def copy_to_folder(db: Database, keys: AuditKeys, folder: CheckpointFolder, after: int) -> int:
    """Append the checkpoints newer than `after` to the folder (those a crash or a full
    disk kept from it, or the one just sealed); returns the newest now copied. Only
    checkpoints signed by our key are copied."""
    public = keys.signing.public_key()
    with db.read() as session:
        missing = list(
            session.scalars(
                select(AuditCheckpoint)
                .where(AuditCheckpoint.last_seq > after)
                .order_by(AuditCheckpoint.last_seq)
            )
        )
    signed = [c for c in missing if _signed(public, c.body, c.signature)]
    folder.append(signed, keys.public_hex)
    return signed[-1].last_seq if signed else after


def _signed(public: Ed25519PublicKey, body: str, signature: str) -> bool:
    try:
        public.verify(bytes.fromhex(signature), body.encode())
    except (InvalidSignature, ValueError):
        return False
    return True


# --- Sealing ----------------------------------------------------------------------------


def seal_batch(
    db: Database, keys: AuditKeys, *, max_events: int = MAX_BATCH
) -> AuditCheckpoint | None:
    """Seal the oldest pending events (up to `max_events`) and sign their checkpoint, in
    one transaction; None when nothing is pending. The caller copies the checkpoint to the
    folder (`copy_to_folder`)."""
    with db.transaction() as session:
        if session.get_bind().dialect.name == "postgresql":
            session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": SEALER_LOCK})
        events = session.execute(
            select(AuditEvent.id, AuditEvent.content_hash)
            .join(AuditPending, AuditPending.event_id == AuditEvent.id)
            .order_by(AuditEvent.id)
            .limit(max_events)
        ).all()
        if not events:
            return None
        unhashed = _hash_old_events(session, [e.id for e in events if e.content_hash is None])
        head = session.execute(
            select(AuditSeal.seq, AuditSeal.mac).order_by(AuditSeal.seq.desc()).limit(1)
        ).one_or_none()
        last = session.scalars(
            select(AuditCheckpoint).order_by(AuditCheckpoint.last_seq.desc()).limit(1)
        ).one_or_none()
        seq, mac = (head.seq, head.mac) if head else (0, GENESIS_HASH)
        first = seq + 1
        seals = []
        for event in events:
            seq += 1
            sealed = seal_hash(seq, event.id, event.content_hash or unhashed[event.id])
            mac = keys.seal_mac(mac, sealed)
            seals.append({"seq": seq, "event_id": event.id, "hash": sealed, "mac": mac})
        _insert_seals(session, seals)
        # The queue's rows of exactly these events (just sealed, in this transaction): one
        # statement, however large the batch, and never an event that committed meanwhile.
        changed_rows(
            session,
            delete(AuditPending).where(
                AuditPending.event_id.in_(
                    select(AuditSeal.event_id).where(AuditSeal.seq.between(first, seq))
                )
            ),
        )
        hashes = [bytes.fromhex(s["hash"]) for s in seals]
        body = canonical_bytes(
            {
                "version": 2,
                "first_seq": first,
                "last_seq": seq,
                "size": len(seals),
                "root": merkle.root(hashes).hex(),
                "head_hash": seals[-1]["hash"],
                "previous": _digest(last.body) if last else GENESIS_HASH,
                "sealed_at": utcnow().isoformat(timespec="microseconds"),
            }
        ).decode()
        checkpoint = AuditCheckpoint(
            first_seq=first,
            last_seq=seq,
            body=body,
            signature=keys.signing.sign(body.encode()).hex(),
            created_at=utcnow(),
        )
        session.add(checkpoint)
    return checkpoint


def _hash_old_events(session: Session, ids: list[int]) -> dict[int, str]:
    """Content hashes of events written before writers hashed their own (revision 0012)."""
    if not ids:
        return {}
    rows = session.execute(select(*EVENT_COLUMNS).where(AuditEvent.id.in_(ids))).all()
    return {row.id: content_hash(row) for row in rows}


def _insert_seals(session: Session, seals: list[dict[str, Any]]) -> None:
    """Insert a batch of seals: with COPY on PostgreSQL (an INSERT per row would cost more
    than the rest of sealing together), as one executemany on SQLite."""
    if session.get_bind().dialect.name != "postgresql":
        session.execute(insert(cast("Table", AuditSeal.__table__)), seals)
        return
    raw = cast("psycopg.Connection[Any]", session.connection().connection.dbapi_connection)
    columns = ("seq", "event_id", "hash", "mac")
    with (
        raw.cursor() as cursor,
        cursor.copy(f"COPY audit_seals ({', '.join(columns)}) FROM STDIN") as copy,
    ):
        for seal in seals:
            copy.write_row(tuple(seal[c] for c in columns))


def seal_all(db: Database, keys: AuditKeys, folder: CheckpointFolder) -> int:
    """Seal everything pending now, copying each checkpoint to the folder; how many events
    (`darvaza audit seal`; the worker's sealer does the same continuously)."""
    copied = copy_to_folder(db, keys, folder, folder.last_seq())
    sealed = 0
    while (checkpoint := seal_batch(db, keys)) is not None:
        sealed += checkpoint.last_seq - checkpoint.first_seq + 1
        copied = copy_to_folder(db, keys, folder, copied)
    return sealed


# --- Verifying ----------------------------------------------------------------------------


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

    @property
    def ok(self) -> bool:
        return not self.problems


class _Broken(Exception):
    def __init__(self, problem: str, seq: int | None, event_id: int | None = None) -> None:
        super().__init__(problem)
        self.problem, self.seq, self.event_id = problem, seq, event_id


def verify_log(
    db: Database, keys: AuditKeys, folder: CheckpointFolder, *, max_delay_seconds: float
) -> LogReport:
    """Walk every seal in order, recomputing its hash from the event and its mac from the
    one before; check each checkpoint's signature, chain and Merkle root against the seals
    it covers and its copy in the folder; then count what is not sealed yet. Stops at the
    first thing that disagrees and names it. Memory stays flat however long the log."""
    report = LogReport()
    try:
        _walk(db, keys, folder, report)
    except _Broken as broken:
        report.problems.append(broken.problem)
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


def _walk(db: Database, keys: AuditKeys, folder: CheckpointFolder, report: LogReport) -> None:
    public = keys.signing.public_key()
    copies = _Lookahead(folder.entries())
    with db.read() as session:
        checkpoints = iter(
            session.scalars(
                select(AuditCheckpoint)
                .order_by(AuditCheckpoint.first_seq)
                .execution_options(yield_per=1000)
            )
        )
        rows = session.execute(
            select(AuditSeal.seq, AuditSeal.event_id.label("sealed_id"), AuditSeal.hash,
                   AuditSeal.mac, *EVENT_COLUMNS)
            .outerjoin(AuditEvent, AuditEvent.id == AuditSeal.event_id)
            .order_by(AuditSeal.seq)
            .execution_options(yield_per=_READ_BATCH)
        )  # fmt: skip
        checkpoint = next(checkpoints, None)
        mac, previous, leaves = GENESIS_HASH, GENESIS_HASH, []
        for expected, row in enumerate(rows, start=1):
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
    if (extra := copies.next) is not None:
        if extra.last_seq is None:
            raise _Broken(f"the checkpoint folder has an unreadable line ({extra.where})", None)
        raise _Broken(
            f"the checkpoint through seal {extra.last_seq} is in the folder ({extra.where}) "
            "but not in the database: the log was cut after seal "
            f"{report.sealed_through}",
            report.sealed_through + 1,
        )


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
