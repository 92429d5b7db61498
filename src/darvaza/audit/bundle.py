"""The auditor's handoff bundle: the audit events of a period with the signed checkpoints
that cover them, written to a folder an outside auditor can check with no database and
no secret (`darvaza audit verify --bundle DIR`, or their own code, following VERIFY.md).

A checkpoint's Merkle root covers every seal in its range, so the bundle carries whole
checkpoints: every sealed event from the first checkpoint touching the period to the last
one, each line saying whether it falls in the period. Events of the period not sealed yet
cannot be proved; the manifest counts them (seal first: `darvaza audit seal`).

Files: `events.jsonl` (one sealed event per line: its place, id, seal hash and content),
`checkpoints.jsonl` (each checkpoint's signed body and signature), `MANIFEST.json`
(period, ranges, counts, the public key and every file's SHA-256) and `VERIFY.md`. The
folder is written under a temporary name and renamed when whole.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import func, select

from darvaza.audit import merkle
from darvaza.audit.checkpoints import AuditKeys
from darvaza.audit.models import GENESIS_HASH, AuditCheckpoint, AuditEvent, AuditSeal
from darvaza.audit.service import canonical_bytes, canonical_content, seal_hash
from darvaza.clock import utcnow
from darvaza.db import Database

FORMAT = "darvaza-audit-bundle/1"
EVENTS, CHECKPOINTS, MANIFEST, NOTE = (
    "events.jsonl",
    "checkpoints.jsonl",
    "MANIFEST.json",
    "VERIFY.md",
)
_READ_BATCH = 2_000
_MAX_PROBLEMS = 50


class BundleError(Exception):
    """The bundle cannot be written (a folder in the way, nothing sealed in the period)."""


@dataclass(frozen=True)
class BundleSummary:
    path: Path
    events: int  # lines written (whole checkpoints)
    in_period: int
    unsealed_in_period: int
    checkpoints: int
    first_seq: int
    last_seq: int


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def export_bundle(
    db: Database, keys: AuditKeys, *, since: datetime, until: datetime, to: Path
) -> BundleSummary:
    """Write the bundle of `[since, until)` into the new folder `to`, streaming the events
    (memory does not grow with the period)."""
    if to.exists():
        raise BundleError(f"{to} exists: a bundle goes into a new folder.")
    if until <= since:
        raise BundleError("--until must be after --since.")
    checkpoints, sealed, total = _covering(db, since, until)
    first, last = checkpoints[0].first_seq, checkpoints[-1].last_seq
    partial = to.with_name(to.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    with (partial / CHECKPOINTS).open("w", encoding="utf-8") as out:
        for checkpoint in checkpoints:
            out.write(_line({"body": checkpoint.body, "signature": checkpoint.signature}))
    lines = 0
    with (partial / EVENTS).open("w", encoding="utf-8") as out:
        for seq, event_id, sealed_hash, event in _sealed_events(db, first, last):
            moment = event.occurred_at
            out.write(_line({
                "seq": seq, "id": event_id, "hash": sealed_hash,
                "in_period": since <= moment < until,
                "event": json.loads(canonical_content(event)),
            }))  # fmt: skip
            lines += 1
    manifest = {
        "format": FORMAT,
        "created_at": _iso(utcnow()),
        "since": _iso(since),
        "until": _iso(until),
        "first_seq": first,
        "last_seq": last,
        "events": lines,
        "in_period": sealed,
        "unsealed_in_period": total - sealed,
        "checkpoints": len(checkpoints),
        "public_key": keys.public_hex,
        "files": {name: _sha256(partial / name) for name in (EVENTS, CHECKPOINTS)},
    }
    (partial / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    (partial / NOTE).write_text(_note(manifest), encoding="utf-8")
    partial.rename(to)
    return BundleSummary(to, lines, sealed, total - sealed, len(checkpoints), first, last)


def _covering(
    db: Database, since: datetime, until: datetime
) -> tuple[list[AuditCheckpoint], int, int]:
    """The checkpoints covering the period's sealed events; how many are sealed, and all."""
    in_period = (AuditEvent.occurred_at >= since) & (AuditEvent.occurred_at < until)
    with db.read() as session:
        low, high, sealed = session.execute(
            select(func.min(AuditSeal.seq), func.max(AuditSeal.seq), func.count())
            .join(AuditEvent, AuditEvent.id == AuditSeal.event_id)
            .where(in_period)
        ).one()
        total = session.scalar(select(func.count()).select_from(AuditEvent).where(in_period)) or 0
        if low is None:
            raise BundleError(
                f"No sealed event in the period ({total} unsealed): run darvaza audit seal first."
            )
        checkpoints = list(
            session.scalars(
                select(AuditCheckpoint)
                .where(AuditCheckpoint.last_seq >= low, AuditCheckpoint.first_seq <= high)
                .order_by(AuditCheckpoint.first_seq)
            )
        )
    if not checkpoints or checkpoints[-1].last_seq < high:
        raise BundleError("Some sealed events have no checkpoint yet: run darvaza audit seal.")
    return checkpoints, int(sealed), int(total)


def _sealed_events(db: Database, first: int, last: int) -> Iterator[tuple[int, int, str, Any]]:
    """Sealed events `first..last` in order, read in batches."""
    after = first - 1
    while after < last:
        with db.read() as session:
            rows = session.execute(
                select(AuditSeal.seq, AuditSeal.event_id, AuditSeal.hash, AuditEvent)
                .join(AuditEvent, AuditEvent.id == AuditSeal.event_id)
                .where(AuditSeal.seq > after, AuditSeal.seq <= last)
                .order_by(AuditSeal.seq)
                .limit(_READ_BATCH)
            ).all()
        if not rows:
            return
        yield from ((seq, event_id, sealed, event) for seq, event_id, sealed, event in rows)
        after = rows[-1][0]


def _line(item: dict[str, Any]) -> str:
    return json.dumps(item, ensure_ascii=False, separators=(",", ":")) + "\n"


def _note(manifest: dict[str, Any]) -> str:
    return f"""# Darvaza audit bundle

Events from {manifest["since"]} until {manifest["until"]} ({manifest["in_period"]} in the
period; {manifest["unsealed_in_period"]} more were not sealed yet and are not here), with
the {manifest["checkpoints"]} signed checkpoints covering seals {manifest["first_seq"]} to
{manifest["last_seq"]}.

Checkpoints are signed with the Ed25519 key {manifest["public_key"]}. Compare it with the
key the platform's operator gives you separately (`darvaza audit public-key`): a bundle's
own key proves only that it is consistent, not whose it is.

To check it with Darvaza, with no database and no secret:

    darvaza audit verify --bundle <this folder> --public-key <the key you were given>

To check it yourself:

1. Each file's SHA-256 equals the one in MANIFEST.json.
2. Each line of checkpoints.jsonl: `signature` (hex) is an Ed25519 signature of `body`
   (UTF-8); `body` is JSON with first_seq, last_seq, size, root, head_hash and previous.
   Each body's `previous` is the SHA-256 (hex) of the body before it, and the ranges
   follow each other without a gap.
3. Each line of events.jsonl, in order, has the next seq. Its content hash is the SHA-256
   of `event` encoded as sorted, compact UTF-8 JSON; its seal hash is the SHA-256 of
   {{"content": <content hash>, "id": <id>, "seq": <seq>}} encoded the same way, and
   equals `hash`.
4. For each checkpoint, the RFC 6962 Merkle root (leaf: SHA-256 of 0x00 and the seal
   hash's bytes; node: SHA-256 of 0x01, left and right) of its seals' hashes equals
   `root`, and its last seal's hash equals `head_hash`.
"""


# --- Verifying, offline ---------------------------------------------------------------------


@dataclass
class BundleReport:
    problems: list[str] = field(default_factory=list)
    events: int = 0
    in_period: int = 0
    checkpoints: int = 0
    public_key: str | None = None

    @property
    def ok(self) -> bool:
        return not self.problems

    def add(self, problem: str) -> None:
        if len(self.problems) < _MAX_PROBLEMS:
            self.problems.append(problem)


def _read_lines(path: Path, report: BundleReport) -> Iterator[tuple[int, dict[str, Any]]]:
    try:
        with path.open(encoding="utf-8") as lines:
            for number, text in enumerate(lines, start=1):
                try:
                    item = json.loads(text)
                except ValueError:
                    report.add(f"{path.name} line {number}: not JSON")
                    continue
                if isinstance(item, dict):
                    yield number, item
                else:
                    report.add(f"{path.name} line {number}: not a JSON object")
    except (OSError, UnicodeDecodeError) as exc:
        report.add(f"{path.name} cannot be read: {exc}")


def verify_bundle(folder: Path, public_key: str | None = None) -> BundleReport:
    """Check a bundle with nothing but its files (and the public key, when the auditor
    was given one); every problem names the file and line."""
    report = BundleReport()
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        files, key_hex = manifest["files"], manifest["public_key"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        report.add(f"{MANIFEST} cannot be read: {exc}")
        return report
    if public_key is not None and public_key.lower() != key_hex:
        report.add(f"The bundle is signed with {key_hex}, not the key given ({public_key}).")
    report.public_key = public_key or key_hex
    for name in (EVENTS, CHECKPOINTS):
        path = folder / name
        if not path.is_file():
            report.add(f"{name} is missing.")
            return report
        if _sha256(path) != files.get(name):
            report.add(f"{name} does not match its SHA-256 in {MANIFEST}.")
    try:
        key = Ed25519PublicKey.from_public_bytes(bytes.fromhex(report.public_key))
    except ValueError:
        report.add(f"Not an Ed25519 public key: {report.public_key}")
        return report
    bodies = _checkpoints(folder / CHECKPOINTS, key, report)
    _events(folder / EVENTS, bodies, report)
    if report.events != manifest.get("events"):
        report.add(f"{EVENTS} has {report.events} lines; {MANIFEST} says {manifest.get('events')}.")
    return report


def _checkpoints(path: Path, key: Ed25519PublicKey, report: BundleReport) -> list[dict[str, Any]]:
    bodies: list[dict[str, Any]] = []
    previous_text: str | None = None
    for number, item in _read_lines(path, report):
        where = f"{CHECKPOINTS} line {number}"
        try:
            text = item["body"]
            key.verify(bytes.fromhex(item["signature"]), text.encode())
            body = json.loads(text)
            first, last = int(body["first_seq"]), int(body["last_seq"])
        except (InvalidSignature, ValueError, KeyError, TypeError):
            report.add(f"{where}: not a checkpoint signed by this key")
            previous_text = None
            continue
        if previous_text is not None:
            if body.get("previous") != hashlib.sha256(previous_text.encode()).hexdigest():
                report.add(f"{where}: does not follow the checkpoint before it")
            if bodies and first != bodies[-1]["last_seq"] + 1:
                report.add(f"{where}: leaves a gap after seal {bodies[-1]['last_seq']}")
        elif first == 1 and body.get("previous") != GENESIS_HASH:
            report.add(f"{where}: the first checkpoint does not start the chain")
        body["first_seq"], body["last_seq"], body["_line"] = first, last, number
        bodies.append(body)
        previous_text = text
    report.checkpoints = len(bodies)
    return bodies


def _events(path: Path, bodies: list[dict[str, Any]], report: BundleReport) -> None:
    """Walk the events checkpoint by checkpoint: each line's content must hash to its seal,
    and each checkpoint's seals to its root."""
    if not bodies:
        report.add(f"{CHECKPOINTS} holds no checkpoint.")
        return
    index = 0
    hashes: list[bytes] = []
    lines_of: list[int] = []
    expected = bodies[0]["first_seq"]
    for number, item in _read_lines(path, report):
        report.events += 1
        where = f"{EVENTS} line {number}"
        try:
            seq, event_id, recorded = int(item["seq"]), int(item["id"]), str(item["hash"])
            content = hashlib.sha256(canonical_bytes(item["event"])).hexdigest()
        except (KeyError, TypeError, ValueError):
            report.add(f"{where}: not an event line")
            continue
        if seq != expected:
            report.add(f"{where}: seal {seq} where seal {expected} was due")
        expected = seq + 1
        if seal_hash(seq, event_id, content) != recorded:
            report.add(f"{where} (event {event_id}): its content does not hash to its seal")
        report.in_period += bool(item.get("in_period"))
        try:
            hashes.append(bytes.fromhex(recorded))
        except ValueError:
            hashes.append(b"")
        lines_of.append(number)
        if index < len(bodies) and seq >= bodies[index]["last_seq"]:
            _check_root(bodies[index], hashes, lines_of, report)
            index, hashes, lines_of = index + 1, [], []
    if hashes or index < len(bodies):
        report.add(f"{EVENTS} ends before the seals of every checkpoint are there.")


def _check_root(
    body: dict[str, Any], hashes: list[bytes], lines: list[int], report: BundleReport
) -> None:
    where = (
        f"the checkpoint of seals {body['first_seq']}-{body['last_seq']} "
        f"({CHECKPOINTS} line {body['_line']})"
    )
    if len(hashes) != body.get("size") or any(len(h) != 32 for h in hashes):
        report.add(f"{where}: {EVENTS} lines {lines[0]}-{lines[-1]} are not its seals")
        return
    if merkle.root(hashes).hex() != body.get("root") or hashes[-1].hex() != body.get("head_hash"):
        report.add(f"{where}: {EVENTS} lines {lines[0]}-{lines[-1]} do not lead to its root")
