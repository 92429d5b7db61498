"""Signed checkpoints of the audit log, kept in the database and in a folder outside it.

The hash chain shows that nothing was changed in place; it cannot show that someone with
write access to the database did not drop the triggers, delete an event and re-hash all
that followed. A checkpoint can: the sealer takes the events since the last checkpoint,
builds a Merkle tree over their hashes (`merkle.py`), and signs the range, the tree's root,
the newest event's hash and the previous checkpoint's digest with an Ed25519 key derived
from `DARVAZA_AUDIT_KEY`, a setting that never lives in the database. Each checkpoint is
also written to `DARVAZA_AUDIT_CHECKPOINT_DIR` with the leaf hashes it covers, so
`darvaza audit verify` names the first event that no longer matches, and
`darvaza audit prove` prints a proof anyone can check with the public key alone.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from darvaza.audit import merkle
from darvaza.audit.models import AuditCheckpoint, AuditEvent
from darvaza.clock import utcnow
from darvaza.db import Database

GENESIS = "0" * 64
MAX_BATCH = 50_000
# Held for the sealing transaction on PostgreSQL, so one sealer runs at a time (SQLite's
# write lock does the same there).
SEALER_LOCK = 0x64617276  # "darv"


@dataclass(frozen=True)
class AuditKeys:
    signing: Ed25519PrivateKey

    @classmethod
    def from_secret(cls, secret: str) -> AuditKeys:
        seed = hmac.new(secret.encode(), b"darvaza audit checkpoint signing key", hashlib.sha256)
        return cls(Ed25519PrivateKey.from_private_bytes(seed.digest()))

    @property
    def public_hex(self) -> str:
        return public_hex(self.signing.public_key())


def public_hex(key: Ed25519PublicKey) -> str:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw).hex()


def _canonical(body: dict[str, Any]) -> bytes:
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


def _digest(body: str) -> str:
    return hashlib.sha256(body.encode()).hexdigest()


def _folder_file(folder: Path, last_seq: int) -> Path:
    return folder / f"{last_seq:015d}.json"


def _write_file(folder: Path, checkpoint: AuditCheckpoint, leaves: list[str], key: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    content = {"body": checkpoint.body, "signature": checkpoint.signature, "public_key": key,
               "leaves": leaves}  # fmt: skip
    target = _folder_file(folder, checkpoint.last_seq)
    temporary = target.with_suffix(".part")
    temporary.write_text(json.dumps(content, indent=1), encoding="utf-8")
    temporary.rename(target)


def _event_hashes(session: Session, first: int, last: int) -> list[str]:
    return list(
        session.scalars(
            select(AuditEvent.hash)
            .where(AuditEvent.seq >= first, AuditEvent.seq <= last)
            .order_by(AuditEvent.seq)
        )
    )


def _leaf_bytes(hashes: list[str]) -> list[bytes]:
    return [bytes.fromhex(h) for h in hashes]


@dataclass(frozen=True)
class Sealed:
    first_seq: int
    last_seq: int

    @property
    def events(self) -> int:
        return self.last_seq - self.first_seq + 1


def seal_checkpoint(db: Database, keys: AuditKeys, folder: Path) -> Sealed | None:
    """Sign a checkpoint of the events since the last one (None when there are none)."""
    with db.transaction() as session:
        if session.get_bind().dialect.name == "postgresql":
            session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": SEALER_LOCK})
        last = session.scalars(
            select(AuditCheckpoint).order_by(AuditCheckpoint.last_seq.desc()).limit(1)
        ).one_or_none()
        first = (last.last_seq + 1) if last else 1
        newest = session.scalar(select(func.max(AuditEvent.seq))) or 0
        if newest < first:
            return None
        upto = min(newest, first + MAX_BATCH - 1)
        hashes = _event_hashes(session, first, upto)
        body = _canonical(
            {
                "version": 1,
                "first_seq": first,
                "last_seq": upto,
                "size": len(hashes),
                "root": merkle.root(_leaf_bytes(hashes)).hex(),
                "head_hash": hashes[-1],
                "previous": _digest(last.body) if last else GENESIS,
                "sealed_at": utcnow().isoformat(timespec="microseconds"),
            }
        ).decode()
        checkpoint = AuditCheckpoint(
            first_seq=first,
            last_seq=upto,
            body=body,
            signature=keys.signing.sign(body.encode()).hex(),
            created_at=utcnow(),
        )
        session.add(checkpoint)
    _write_file(folder, checkpoint, hashes, keys.public_hex)
    return Sealed(first, upto)


def _never() -> bool:
    return False


def seal_all(
    db: Database, keys: AuditKeys, folder: Path, *, should_stop: Callable[[], bool] = _never
) -> int:
    """Seal checkpoints until every event is in one (or `should_stop()`); how many events."""
    sealed = 0
    while not should_stop():
        batch = seal_checkpoint(db, keys, folder)
        if batch is None:
            break
        sealed += batch.events
    return sealed


@dataclass
class CheckpointReport:
    checkpoints: int = 0
    sealed_through: int = 0
    unsealed: int = 0
    oldest_unsealed_at: datetime | None = None
    problems: list[str] = field(default_factory=list)
    first_bad_seq: int | None = None

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_checkpoints(
    db: Database, public_key: Ed25519PublicKey, folder: Path, *, max_delay_seconds: float
) -> CheckpointReport:
    """Check every checkpoint's signature and chain, recompute each one's tree from the
    events in the database, compare with the folder's copies, and report what is not
    sealed yet (too old is a problem)."""
    report = CheckpointReport()
    on_disk = {int(p.stem): p for p in folder.glob("*.json")} if folder.is_dir() else {}
    previous, expected_first = GENESIS, 1
    with db.read() as session:
        for checkpoint in session.scalars(
            select(AuditCheckpoint).order_by(AuditCheckpoint.last_seq)
        ):
            report.checkpoints += 1
            problem = _check_one(session, checkpoint, public_key, previous, expected_first)
            copy = on_disk.pop(checkpoint.last_seq, None)
            problem = problem or _compare_copy(checkpoint, copy)
            if problem:
                report.problems.append(problem)
                # The folder's copy keeps the leaves: name the very event, if it can.
                report.first_bad_seq = (
                    _first_unsigned_event(session, folder, checkpoint.last_seq)
                    or checkpoint.first_seq
                )
                break
            previous, expected_first = _digest(checkpoint.body), checkpoint.last_seq + 1
            report.sealed_through = checkpoint.last_seq
        if not report.problems and on_disk:
            gone = min(on_disk)
            report.problems.append(
                f"the checkpoint through event {gone} is in the folder but not in the database"
            )
            report.first_bad_seq = expected_first
        pending = session.execute(
            select(func.count(), func.min(AuditEvent.occurred_at)).where(
                AuditEvent.seq > report.sealed_through
            )
        ).one()
    report.unsealed, report.oldest_unsealed_at = int(pending[0]), pending[1]
    if report.oldest_unsealed_at is not None:
        age = (utcnow() - report.oldest_unsealed_at).total_seconds()
        if age > max_delay_seconds:
            report.problems.append(
                f"{report.unsealed} events are not sealed; the oldest for {age:.0f} s "
                f"(more than {max_delay_seconds:.0f} s): is the worker running?"
            )
    return report


def _check_one(
    session: Session,
    checkpoint: AuditCheckpoint,
    public_key: Ed25519PublicKey,
    previous: str,
    expected_first: int,
) -> str | None:
    name = f"checkpoint {checkpoint.first_seq}..{checkpoint.last_seq}"
    try:
        public_key.verify(bytes.fromhex(checkpoint.signature), checkpoint.body.encode())
    except (InvalidSignature, ValueError):
        return f"{name} is not signed by the audit key"
    body = json.loads(checkpoint.body)
    if (body["first_seq"], body["last_seq"]) != (checkpoint.first_seq, checkpoint.last_seq):
        return f"{name} does not say the range it is filed under"
    if body["first_seq"] != expected_first or body["previous"] != previous:
        return f"{name} does not follow the checkpoint before it"
    hashes = _event_hashes(session, checkpoint.first_seq, checkpoint.last_seq)
    if len(hashes) != body["size"] or merkle.root(_leaf_bytes(hashes)).hex() != body["root"]:
        return f"the events {checkpoint.first_seq}..{checkpoint.last_seq} are not the ones signed"
    return None


def _compare_copy(checkpoint: AuditCheckpoint, copy: Path | None) -> str | None:
    name = f"checkpoint {checkpoint.first_seq}..{checkpoint.last_seq}"
    if copy is None:
        return f"{name} has no copy in the checkpoint folder"
    stored = json.loads(copy.read_text(encoding="utf-8"))
    if stored.get("body") != checkpoint.body or stored.get("signature") != checkpoint.signature:
        return f"{name} differs from its copy in the checkpoint folder"
    return None


def _first_unsigned_event(session: Session, folder: Path, last_seq: int) -> int | None:
    """With the folder's leaf hashes, the first event whose hash is not the one signed."""
    copy = _folder_file(folder, last_seq)
    if not copy.exists():
        return None
    stored = json.loads(copy.read_text(encoding="utf-8"))
    body = json.loads(stored["body"])
    hashes = _event_hashes(session, body["first_seq"], body["last_seq"])
    for offset, signed in enumerate(stored.get("leaves", [])):
        if offset >= len(hashes) or hashes[offset] != signed:
            return int(body["first_seq"]) + offset
    return None


def inclusion_proof(db: Database, seq: int) -> dict[str, Any]:
    """A proof that event `seq` is in a signed checkpoint, checkable without the database:
    the event, its place in the checkpoint's tree, the path to the root, the checkpoint."""
    with db.read() as session:
        checkpoint = session.scalars(
            select(AuditCheckpoint).where(
                AuditCheckpoint.first_seq <= seq, AuditCheckpoint.last_seq >= seq
            )
        ).one_or_none()
        event = session.get(AuditEvent, seq)
        if checkpoint is None or event is None:
            raise LookupError(f"event {seq} is not in a checkpoint (yet)")
        hashes = _event_hashes(session, checkpoint.first_seq, checkpoint.last_seq)
        from darvaza.audit.service import canonical_content

        content = canonical_content(event).decode()
    index = seq - checkpoint.first_seq
    path = merkle.inclusion_path(index, _leaf_bytes(hashes))
    return {
        "event": json.loads(content),
        "event_hash": event.hash,
        "index": index,
        "path": [node.hex() for node in path],
        "checkpoint": {"body": checkpoint.body, "signature": checkpoint.signature},
    }


def check_proof(proof: dict[str, Any], public_key: Ed25519PublicKey) -> list[str]:
    """What is wrong with a proof (empty: it holds). Needs nothing but the proof and the
    audit key's public half."""
    from darvaza.audit.service import canonical_bytes

    problems: list[str] = []
    try:
        body_text = proof["checkpoint"]["body"]
        public_key.verify(bytes.fromhex(proof["checkpoint"]["signature"]), body_text.encode())
    except (InvalidSignature, ValueError, KeyError, TypeError):
        return ["the checkpoint is not signed by this key"]
    body = json.loads(body_text)
    event_hash = hashlib.sha256(canonical_bytes(proof.get("event", {}))).hexdigest()
    if event_hash != proof.get("event_hash"):
        problems.append("the event's content does not hash to the event hash")
    try:
        path = [bytes.fromhex(node) for node in proof["path"]]
        found = merkle.root_from_path(
            bytes.fromhex(proof["event_hash"]), int(proof["index"]), int(body["size"]), path
        )
    except (KeyError, TypeError, ValueError):
        found = None
    if found is None or found.hex() != body["root"]:
        problems.append("the path does not lead to the checkpoint's root")
    if proof.get("event", {}).get("seq") != body["first_seq"] + int(proof.get("index", -1)):
        problems.append("the event's sequence number is not its place in the checkpoint")
    return problems
