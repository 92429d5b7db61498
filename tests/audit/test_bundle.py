"""The auditor's bundle: `darvaza audit export` writes a period's sealed events with the
signed checkpoints covering them and records `audit_export` evidence; `darvaza audit
verify --bundle` checks it with no database and no settings, and names each edited,
missing or forged line."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select
from typer.testing import CliRunner

from darvaza.audit.bundle import EVENTS, MANIFEST, verify_bundle
from darvaza.audit.checkpoints import CheckpointFolder, seal_all
from darvaza.cli import app as cli
from darvaza.clock import utcnow
from darvaza.db import Database
from darvaza.operations.models import Evidence
from tests.audit.support import KEYS, SECRET, append

runner = CliRunner()


def _env(db: Database, folder: Path) -> dict[str, str]:
    return {
        "DARVAZA_DATABASE_URL": db.url.render_as_string(hide_password=False),
        "DARVAZA_AUDIT_KEY": SECRET,
        "DARVAZA_AUDIT_CHECKPOINT_DIR": str(folder / "checkpoints"),
    }


def _export(db: Database, tmp_path: Path, count: int = 12) -> Path:
    append(db, count)
    seal_all(db, KEYS, CheckpointFolder(tmp_path / "checkpoints"))
    append(db, 2)  # after the seal: in the period, but not provable yet
    bundle = tmp_path / "bundle"
    done = runner.invoke(cli, ["audit", "export", "--to", str(bundle)], env=_env(db, tmp_path))
    assert done.exit_code == 0, done.output
    return bundle


def _verify(bundle: Path, *key: str) -> tuple[int, str]:
    # No settings, no database: an empty environment.
    result = runner.invoke(cli, ["audit", "verify", "--bundle", str(bundle), *key], env={})
    return result.exit_code, result.output


def test_a_bundle_is_written_recorded_and_verifies_offline(db: Database, tmp_path: Path) -> None:
    bundle = _export(db, tmp_path)
    manifest = json.loads((bundle / MANIFEST).read_text())
    assert manifest["in_period"] == 12
    assert manifest["unsealed_in_period"] >= 2  # the two after the seal, and the export's own
    assert manifest["checkpoints"] == 1
    assert manifest["public_key"] == KEYS.public_hex
    assert (bundle / "VERIFY.md").read_text().count(KEYS.public_hex) == 1
    lines = (bundle / EVENTS).read_text().splitlines()
    assert len(lines) == 12
    assert json.loads(lines[0])["event"]["action"] == "test.appended"
    code, output = _verify(bundle, "--public-key", KEYS.public_hex)
    assert code == 0, output
    assert "Bundle intact: 12 sealed events (12 in its period) in 1 signed checkpoints" in output
    with db.read() as session:
        recorded = session.scalars(select(Evidence).where(Evidence.kind == "audit_export")).one()
    assert (recorded.name, recorded.result) == ("bundle", "passed")
    assert recorded.details["in_period"] == 12
    # The folder is never written over.
    again = runner.invoke(cli, ["audit", "export", "--to", str(bundle)], env=_env(db, tmp_path))
    assert again.exit_code == 1
    assert "exists" in again.output


def test_one_edited_line_fails_naming_it(db: Database, tmp_path: Path) -> None:
    bundle = _export(db, tmp_path)
    path = bundle / EVENTS
    lines = path.read_text().splitlines(keepends=True)
    edited = json.loads(lines[6])
    edited["event"]["data"]["i"] = 999
    lines[6] = json.dumps(edited) + "\n"
    path.write_text("".join(lines))
    code, output = _verify(bundle)
    assert code == 1
    assert "events.jsonl does not match its SHA-256" in output
    assert (
        f"events.jsonl line 7 (event {edited['id']}): its content does not hash to its seal"
        in output
    )


def test_a_forged_seal_a_dropped_line_and_another_key_fail(db: Database, tmp_path: Path) -> None:
    bundle = _export(db, tmp_path)
    path = bundle / EVENTS
    lines = path.read_text().splitlines(keepends=True)
    # Content and its seal hash both rewritten: only the checkpoint's root can tell.
    forged = json.loads(lines[3])
    forged["event"]["data"]["i"] = 999
    import hashlib

    from darvaza.audit.service import canonical_bytes, seal_hash

    content = hashlib.sha256(canonical_bytes(forged["event"])).hexdigest()
    forged["hash"] = seal_hash(forged["seq"], forged["id"], content)
    lines[3] = json.dumps(forged) + "\n"
    path.write_text("".join(lines))
    report = verify_bundle(bundle, KEYS.public_hex)
    assert any("lines 1-12 do not lead to its root" in p for p in report.problems), report.problems
    # A line dropped: the next seal is not the one due.
    del lines[3]
    path.write_text("".join(lines))
    report = verify_bundle(bundle)
    assert any("events.jsonl line 4: seal 5 where seal 4 was due" in p for p in report.problems)
    # Checked against a key the auditor was given that is not the bundle's.
    code, output = _verify(bundle, "--public-key", "ab" * 32)
    assert code == 1
    assert "not the key given" in output


def test_a_period_with_nothing_sealed_is_refused(db: Database, tmp_path: Path) -> None:
    append(db, 3)
    later = (utcnow() + timedelta(days=1)).isoformat()
    done = runner.invoke(
        cli, ["audit", "export", "--to", str(tmp_path / "b"), "--since", later,
              "--until", (utcnow() + timedelta(days=2)).isoformat()],
        env=_env(db, tmp_path),
    )  # fmt: skip
    assert done.exit_code == 1
    assert "No sealed event in the period" in done.output
    assert not (tmp_path / "b").exists()
