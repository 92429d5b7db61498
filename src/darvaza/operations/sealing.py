"""Sealing a restore point's parts at rest: zstd compression, age encryption, or both.

A part is written plain, then sealed into `<name>.zst`, `<name>.age` or `<name>.zst.age`
(compressed first: ciphertext does not compress) and the plain file removed. The manifest
keeps the stored file's size and SHA-256, which anyone can check without a key, and the
plain part's, checked again whenever it is unsealed.

age (X25519) splits the keys: the server writing restore points needs only a recipient
(a public key, `age1...`), while reading them back needs an identity (`AGE-SECRET-KEY-1...`)
that can live offline until a restore or a drill needs it. Several recipients may be
given, so that an escrow key can open every restore point too.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, cast

import pyrage
import zstandard
from pyrage import x25519

from darvaza.config import Settings
from darvaza.config.age_keys import AgeKeyError, parse_identities, parse_recipients
from darvaza.operations.errors import BackupError, BackupKeyMissing

ZSTD, AGE = "zstd", "age"
SUFFIX = {ZSTD: ".zst", AGE: ".age"}
CHUNK = 1 << 20
ZSTD_LEVEL = 3  # zstd's own default: most of the gain, a fraction of the time of higher levels


# Where bytes that have gone through are counted (a progress bar, or nothing).
Meter = Callable[[int], None]


def new_identity() -> tuple[str, str]:
    """A new identity and its recipient (what `darvaza backup keygen` writes)."""
    identity = x25519.Identity.generate()
    return str(identity), str(identity.to_public())


@dataclass(frozen=True)
class Sealing:
    compress: bool
    recipients: tuple[str, ...] = ()  # age recipients; none: not encrypted

    @property
    def encoding(self) -> list[str]:
        return [ZSTD] * self.compress + [AGE] * bool(self.recipients)

    @classmethod
    def of(cls, settings: Settings) -> Sealing:
        recipients = settings.backup_age_recipients.replace(",", " ").split()
        return cls(settings.backup_compression == ZSTD, tuple(recipients))

    def describe(self) -> dict[str, Any]:
        return {"compression": ZSTD if self.compress else None,
                "age_recipients": list(self.recipients)}  # fmt: skip


class Reading:
    """A stream read through: counted, hashed, and each chunk told to a meter."""

    def __init__(self, stream: IO[bytes], meter: Meter) -> None:
        self.stream, self.meter = stream, meter
        self.digest, self.size = hashlib.sha256(), 0

    def read(self, size: int = -1) -> bytes:
        chunk = self.stream.read(size)
        self.digest.update(chunk)
        self.size += len(chunk)
        self.meter(len(chunk))
        return chunk


class _Writing:
    """A stream written through: counted and hashed."""

    def __init__(self, stream: IO[bytes]) -> None:
        self.stream = stream
        self.digest, self.size = hashlib.sha256(), 0

    def write(self, chunk: bytes) -> int:
        self.stream.write(chunk)
        self.digest.update(chunk)
        self.size += len(chunk)
        return len(chunk)

    def flush(self) -> None:
        self.stream.flush()


def _copy(reader: Any, writer: Any) -> None:
    while chunk := reader.read(CHUNK):
        writer.write(chunk)


def _seal_stream(
    source: IO[bytes], stored: Path, plain_name: str, sealing: Sealing, meter: Meter
) -> dict[str, Any]:
    """What `source` yields, sealed into `stored`; its manifest entry (both checksums
    taken on the way: nothing is read twice)."""
    with stored.open("wb") as sink:
        reading = Reading(source, meter)
        if not sealing.encoding:  # stored as it is: one checksum is both
            _copy(reading, sink)
            sha256 = reading.digest.hexdigest()
            return {"name": stored.name, "size": reading.size, "sha256": sha256,
                    "encoding": [], "plain_name": plain_name, "plain_size": reading.size,
                    "plain_sha256": sha256}  # fmt: skip
        writing = _Writing(sink)
        reader: Any = reading
        if sealing.compress:
            compressor = zstandard.ZstdCompressor(level=ZSTD_LEVEL, write_checksum=True)
            reader = compressor.stream_reader(cast(IO[bytes], reading))
        if sealing.recipients:
            pyrage.encrypt_io(reader, writing, parse_recipients(",".join(sealing.recipients)))
        else:
            _copy(reader, writing)
    return {
        "name": stored.name, "size": writing.size, "sha256": writing.digest.hexdigest(),
        "encoding": sealing.encoding, "plain_name": plain_name, "plain_size": reading.size,
        "plain_sha256": reading.digest.hexdigest(),
    }  # fmt: skip


def stored_name(name: str, sealing: Sealing) -> str:
    return name + "".join(SUFFIX[step] for step in sealing.encoding)


def seal_part(folder: Path, name: str, sealing: Sealing, meter: Meter) -> dict[str, Any]:
    """The plain part `folder/name` sealed as the settings say (then removed); its
    manifest entry. Stored as it is, it is only read, for its size and checksums."""
    plain = folder / name
    if not sealing.encoding:
        with plain.open("rb") as source:
            reading = Reading(source, meter)
            while reading.read(CHUNK):
                pass
        size, sha256 = reading.size, reading.digest.hexdigest()
        return {"name": name, "size": size, "sha256": sha256, "encoding": [],
                "plain_name": name, "plain_size": size, "plain_sha256": sha256}  # fmt: skip
    with plain.open("rb") as source:
        entry = _seal_stream(source, folder / stored_name(name, sealing), name, sealing, meter)
    plain.unlink()
    return entry


@contextmanager
def sealing_writer(
    folder: Path, name: str, sealing: Sealing
) -> Iterator[tuple[IO[bytes], dict[str, Any]]]:
    """A stream to write part `name` into, sealed as it comes (by a thread of its own, on
    the other core: compressing and encrypting while the writer reads its sources); the
    manifest entry is filled in once the block ends. No plain copy touches the disk."""
    read_end, write_end = os.pipe()
    with suppress(OSError, AttributeError):  # Linux: a megabyte in flight, not 64 KiB
        fcntl.fcntl(write_end, fcntl.F_SETPIPE_SZ, CHUNK)
    entry: dict[str, Any] = {}
    failure: list[BaseException] = []

    def seal() -> None:
        with os.fdopen(read_end, "rb", buffering=CHUNK) as source:
            try:
                entry.update(_seal_stream(source, folder / stored_name(name, sealing), name,
                                          sealing, lambda _count: None))  # fmt: skip
            except BaseException as exc:  # noqa: BLE001 (handed to the writer's side)
                failure.append(exc)

    sealer = threading.Thread(target=seal, name=f"seal-{name}", daemon=True)
    sealer.start()
    sink = os.fdopen(write_end, "wb", buffering=CHUNK)
    try:
        try:
            yield sink, entry
        finally:
            with suppress(BrokenPipeError):  # the sealer stopped: its error is the one
                sink.close()
            sealer.join()
    except BrokenPipeError:
        if failure:
            raise failure[0] from None
        raise
    if failure:
        raise failure[0]


def plain_name_of(entry: dict[str, Any]) -> str:
    return str(entry.get("plain_name", entry["name"]))  # format 1 parts were never sealed


def _identities_for(name: str, identities: str) -> list[x25519.Identity]:
    try:
        keys = parse_identities(identities)
    except AgeKeyError as exc:
        raise BackupError(f"The age identity given cannot be read: {exc}.") from None
    if not keys:
        raise BackupKeyMissing(
            f"{name} is encrypted: give the age identity of one of its recipients "
            "(DARVAZA_BACKUP_AGE_IDENTITY, or --identity-file)."
        )
    return keys


@contextmanager
def unsealed(
    stored: Path, entry: dict[str, Any], workdir: Path, identities: str,
    meter: Meter = lambda _count: None,
) -> Iterator[Path]:  # fmt: skip
    """The plain part: the stored file itself when it was not sealed, else a plain copy in
    `workdir` (removed after), checked against the plain SHA-256 the manifest records."""
    encoding = list(entry.get("encoding", []))
    if not encoding:
        yield stored
        return
    keys = _identities_for(entry["name"], identities) if AGE in encoding else []
    plain = workdir / f".unsealed-{entry['name']}"
    try:
        digest = _unseal(stored, plain, encoding, keys, meter, entry["name"])
        if digest != entry["plain_sha256"]:
            raise BackupError(f"{entry['name']}: unsealed, it differs from the manifest's SHA-256.")
        yield plain
    finally:
        plain.unlink(missing_ok=True)


def _unseal(
    stored: Path, plain: Path, encoding: list[str], keys: list[x25519.Identity],
    meter: Meter, name: str,
) -> str:  # fmt: skip
    """`stored` opened into `plain`; the plain bytes' SHA-256."""
    try:
        with stored.open("rb") as source, plain.open("wb") as sink:
            writing = _Writing(sink)
            writer: Any = writing
            if ZSTD in encoding:
                writer = zstandard.ZstdDecompressor().stream_writer(
                    cast(IO[bytes], writing), closefd=False
                )
            reading = Reading(source, meter)
            if keys:
                pyrage.decrypt_io(reading, writer, keys)
            else:
                _copy(reading, writer)
            writer.flush()
    except pyrage.DecryptError as exc:
        if "no matching keys" in str(exc).lower():
            raise BackupKeyMissing(
                f"{name}: none of the age identities given opens it; it was sealed to the "
                "recipients the manifest lists (sealing.age_recipients)."
            ) from None
        raise BackupError(f"{name}: cannot be decrypted ({exc}).") from exc
    # Closing the plain file flushes it too: a full disk can say so only then.
    except (OSError, zstandard.ZstdError) as exc:
        raise BackupError(f"{name}: cannot be unsealed ({exc}).") from exc
    return writing.digest.hexdigest()
