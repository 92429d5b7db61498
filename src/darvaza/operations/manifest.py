"""A restore point's manifest as every reader relies on it: a format this Darvaza reads,
and the keys and types the others expect. A manifest edited by hand, cut short or
written by a newer Darvaza is refused by name here, never met later as a missing key."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from darvaza.operations.errors import BackupError
from darvaza.operations.sealing import SUFFIX

# 2: parts may be sealed (`encoding`, `plain_*` in their entries; `sealing`). A format 1
# restore point reads as one whose parts are all stored as they are.
FORMAT_VERSION = 2
MANIFEST = "manifest.json"
DATABASE_PART = {"sqlite": "database.sqlite3", "postgresql": "database.pgdump"}


def read_manifest(path: Path) -> dict[str, Any]:
    try:
        manifest = json.loads((path / MANIFEST).read_text())
    except FileNotFoundError as exc:
        raise BackupError(f"{path}: no manifest, so not a whole restore point.") from exc
    except (OSError, ValueError) as exc:
        raise BackupError(f"{path}: the manifest cannot be read ({exc}).") from exc
    if not isinstance(manifest, dict):
        raise BackupError(f"{path}: the manifest is not an object.")
    version = manifest.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise BackupError(
            f"{path}: made by a newer Darvaza (format {version}; this one reads up to "
            f"{FORMAT_VERSION}): use that version or a newer one."
        )
    _check_shape(path, manifest)
    return manifest


MANIFEST_SHAPE: dict[str, type | tuple[type, ...]] = {
    "created_at": str, "engine": str, "seconds": (int, float), "tables": dict,
    "parts": list, "files": list, "file_problems": list, "unreferenced_files": list,
    "migration_head": (str, type(None)),
}  # fmt: skip


def _check_shape(path: Path, manifest: dict[str, Any]) -> None:
    wrong = [key for key, kind in MANIFEST_SHAPE.items()
             if not isinstance(manifest.get(key), kind)]  # fmt: skip
    for key, fields in (("parts", {"name": str, "size": int, "sha256": str}),
                        ("files", {"key": str, "size": int, "sha256": str})):  # fmt: skip
        entries = manifest.get(key)
        if isinstance(entries, list) and not all(
            isinstance(entry, dict)
            and all(isinstance(entry.get(name), kind) for name, kind in fields.items())
            for entry in entries
        ):
            wrong.append(key)
    for part in manifest.get("parts") or []:
        if isinstance(part, dict) and not _sealed_entry_is_whole(part):
            wrong.append("parts")
    if manifest.get("engine") not in DATABASE_PART:
        wrong.append("engine")
    try:
        datetime.fromisoformat(str(manifest.get("created_at")))
    except ValueError:
        wrong.append("created_at")
    if wrong:
        raise BackupError(f"{path}: the manifest is damaged ({', '.join(sorted(set(wrong)))}).")


def _sealed_entry_is_whole(part: dict[str, Any]) -> bool:
    encoding = part.get("encoding", [])
    if not encoding:
        return isinstance(encoding, list)
    return (
        isinstance(encoding, list) and set(encoding) <= set(SUFFIX)
        and isinstance(part.get("plain_name"), str) and isinstance(part.get("plain_size"), int)
        and isinstance(part.get("plain_sha256"), str)
    )  # fmt: skip
