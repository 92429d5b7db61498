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
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, cast

import psycopg
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from sqlalchemy import Table, delete, insert, select, text
from sqlalchemy.orm import Session

from darvaza.audit import merkle
from darvaza.audit.models import (
    GENESIS_HASH,
    AuditCheckpoint,
    AuditEvent,
    AuditPending,
    AuditSeal,
)
from darvaza.audit.service import canonical_bytes, content_hash, seal_hash
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
    # Long because: reading, hashing, sealing and signing are one critical section under the
    # sealer's lock, and read best in the order they happen.
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
