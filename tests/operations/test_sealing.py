"""Restore points sealed at rest: zstd compression and age encryption on both engines.
The parts hold no plain byte of the data, anyone can check them without the key, only the
identity opens them, and a restore with it gives back the same rows and files."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError
from typer.testing import CliRunner

from darvaza.cli import app as cli
from darvaza.config.settings import SettingsError, load_settings
from darvaza.db import Database
from darvaza.operations.backups import FILES_PART, create_backup, find_backup
from darvaza.operations.errors import BackupKeyMissing
from darvaza.operations.manifest import MANIFEST
from darvaza.operations.sealing import new_identity
from darvaza.operations.service import plan_restore, restore_backup, verify_backup
from tests.support.backups import backup_settings, files_in, fresh_target, seed_backup_data
from tests.support.settings import make_settings
from tests.support.world import SYSTEM

runner = CliRunner()


def test_an_encrypted_restore_point_opens_only_with_its_identity(
    db: Database, database_url: str, tmp_path: Path
) -> None:
    identity, recipient = new_identity()
    _escrow_identity, escrow = new_identity()
    writer = backup_settings(database_url, tmp_path, backup_age_recipients=f"{recipient}, {escrow}")
    stored = seed_backup_data(db, writer)
    point = create_backup(db, writer, folder=Path(writer.backup_dir))

    parts = {p["plain_name"]: p for p in point.manifest["parts"]}
    assert {p["name"] for p in parts.values()} == {
        f"{name}.zst.age" for name in parts
    }  # every part compressed, then encrypted
    assert point.manifest["sealing"] == {
        "compression": "zstd", "age_recipients": [recipient, escrow],
    }  # fmt: skip
    assert point.manifest["format_version"] == 2
    for path in point.path.iterdir():
        assert path.name == MANIFEST or path.name.endswith(".age"), path
        raw = path.read_bytes()
        for data in stored.values():
            assert data[:40] not in raw, path  # no plain byte of a file
        assert b"SQLite format" not in raw
        assert b"PGDMP" not in raw
    # The parts check needs no key: it is of the stored bytes.
    shallow = verify_backup(point, writer)
    assert (shallow.result, shallow.problems) == ("passed", [])
    # The server that writes them cannot read them: deep checks need the identity.
    blind = verify_backup(point, writer, deep=True)
    assert blind.result == "inconclusive", blind.problems
    assert "DARVAZA_BACKUP_AGE_IDENTITY" in blind.unchecked[0]
    wrong = writer.model_copy(update={"backup_age_identity": SecretStr(new_identity()[0])})
    refused = verify_backup(point, wrong, deep=True)
    assert refused.result == "inconclusive"  # a key that does not fit says nothing of the data
    assert "none of the age identities given opens it" in refused.unchecked[0]

    reader = writer.model_copy(update={"backup_age_identity": SecretStr(identity)})
    deep = verify_backup(point, reader, deep=True)
    assert (deep.result, deep.problems) == ("passed", [])
    storage = tmp_path / "restored-storage"
    with fresh_target(database_url, tmp_path) as target:
        plan = plan_restore(point, reader, database_url=target, storage=storage)
        with pytest.raises(BackupKeyMissing, match="is encrypted"):
            restore_backup(plan, writer, SYSTEM, force=False)  # refused before anything
        assert not storage.exists()
        report, _safety = restore_backup(plan, reader, SYSTEM, force=False)
    assert (report.result, report.problems) == ("passed", [])
    assert files_in(storage) == stored
    assert not list(tmp_path.rglob(".unsealed-*"))  # plain copies do not outlive their use


def test_a_sealed_part_that_was_changed_is_caught_with_or_without_the_key(
    db: Database, database_url: str, tmp_path: Path
) -> None:
    identity, recipient = new_identity()
    settings = backup_settings(
        database_url, tmp_path, backup_age_recipients=recipient, backup_age_identity=identity
    )
    seed_backup_data(db, settings, files=1)
    folder = Path(settings.backup_dir)
    point = create_backup(db, settings, folder=folder)
    files = point.stored(FILES_PART)
    data = bytearray(files.read_bytes())
    data[len(data) // 2] ^= 0x01
    files.write_bytes(bytes(data))
    report = verify_backup(point, settings)
    assert report.result == "failed"
    assert report.problems == [f"{files.name}: its SHA-256 differs from the manifest's"]

    # Stored bytes and manifest changed together (as someone holding only the recipient
    # could): age's authentication refuses the part when it is opened.
    manifest = json.loads((point.path / MANIFEST).read_text())
    for part in manifest["parts"]:
        if part["name"] == files.name:
            part["sha256"] = __import__("hashlib").sha256(bytes(data)).hexdigest()
    (point.path / MANIFEST).write_text(json.dumps(manifest))
    deep = verify_backup(find_backup(folder, point.id), settings, deep=True)
    assert deep.result == "failed"
    assert any(files.name in problem and "cannot be" in problem for problem in deep.problems)


def test_compression_makes_the_restore_point_smaller_and_none_turns_it_off(
    db: Database, database_url: str, tmp_path: Path
) -> None:
    settings = backup_settings(database_url, tmp_path)
    seed_backup_data(db, settings, files=3)
    sealed = create_backup(db, settings, folder=tmp_path / "zstd")
    plain = create_backup(
        db, settings.model_copy(update={"backup_compression": "none"}), folder=tmp_path / "none"
    )
    assert {p["name"] for p in plain.manifest["parts"]} == {
        p["plain_name"] for p in sealed.manifest["parts"]
    }
    for part in sealed.manifest["parts"]:
        assert part["name"] == part["plain_name"] + ".zst"
        assert part["size"] < part["plain_size"], part  # the seeded data repeats itself
    assert plain.manifest["sealing"] == {"compression": None, "age_recipients": []}
    for point in (sealed, plain):
        report = verify_backup(point, settings, deep=True)
        assert (report.result, report.problems) == ("passed", [])


def test_format_1_restore_points_written_before_sealing_still_verify_and_restore(
    db: Database, database_url: str, tmp_path: Path
) -> None:
    settings = backup_settings(database_url, tmp_path, backup_compression="none")
    stored = seed_backup_data(db, settings, files=1)
    folder = Path(settings.backup_dir)
    point = create_backup(db, settings, folder=folder)
    manifest = json.loads((point.path / MANIFEST).read_text())
    manifest["format_version"] = 1
    del manifest["sealing"]
    for part in manifest["parts"]:
        for key in ("encoding", "plain_name", "plain_size", "plain_sha256"):
            del part[key]
    (point.path / MANIFEST).write_text(json.dumps(manifest))
    old = find_backup(folder, point.id)
    assert verify_backup(old, settings, deep=True).result == "passed"
    with fresh_target(database_url, tmp_path) as target:
        report, _ = restore_backup(
            plan_restore(old, settings, database_url=target, storage=tmp_path / "old-files"),
            settings, SYSTEM, force=False,
        )  # fmt: skip
    assert report.result == "passed"
    assert files_in(tmp_path / "old-files") == stored


def test_keys_are_checked_when_the_settings_load_and_never_echoed() -> None:
    identity, recipient = new_identity()
    assert make_settings(backup_age_recipients=recipient).backup_age_recipients == recipient
    with pytest.raises(ValidationError, match="not an age recipient"):
        make_settings(backup_age_recipients=f"{recipient} age1nope")
    with pytest.raises(SettingsError, match="not an age identity") as caught:
        load_settings(_env_file=None, backup_age_identity="AGE-SECRET-KEY-1TOTALLYWRONGBUTSECRET")
    assert caught.value.problems == [
        "DARVAZA_BACKUP_AGE_IDENTITY: Value error, line 1 is not an age identity "
        "(AGE-SECRET-KEY-1...)"
    ]  # the value itself is never repeated
    settings = make_settings(backup_age_identity=identity)
    assert identity not in repr(settings)


def test_keygen_writes_the_identity_to_a_private_file_and_prints_the_recipient(
    tmp_path: Path,
) -> None:
    key = tmp_path / "backup.key"
    made = runner.invoke(cli, ["backup", "keygen", "--out", str(key)])
    assert made.exit_code == 0, made.output
    recipient = made.output.split("DARVAZA_BACKUP_AGE_RECIPIENTS=")[1].split()[0]
    assert recipient.startswith("age1")
    assert "AGE-SECRET-KEY" not in made.output
    assert key.stat().st_mode & 0o777 == 0o600
    assert "AGE-SECRET-KEY-1" in key.read_text()
    again = runner.invoke(cli, ["backup", "keygen", "--out", str(key)])
    assert again.exit_code == 1
    assert "already exists" in again.output


def test_restore_takes_the_identity_from_a_file_given_on_the_command_line(
    db: Database, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    identity, recipient = new_identity()
    settings = backup_settings(database_url, tmp_path, backup_age_recipients=recipient)
    for name in ("database_url", "storage_dir", "backup_dir", "audit_checkpoint_dir",
                 "backup_age_recipients"):  # fmt: skip
        monkeypatch.setenv(f"DARVAZA_{name.upper()}", str(getattr(settings, name)))
    seed_backup_data(db, settings, files=1)
    point = create_backup(db, settings, folder=Path(settings.backup_dir))
    key = tmp_path / "offline.key"
    key.write_text(f"# kept offline\n{identity}\n")
    blind = runner.invoke(cli, ["backup", "verify", point.id, "--deep"])
    assert blind.exit_code == 1
    assert f"{point.id}: inconclusive" in blind.output
    opened = runner.invoke(
        cli, ["backup", "verify", point.id, "--deep", "--identity-file", str(key)]
    )
    assert opened.exit_code == 0, opened.output
    assert identity not in opened.output
    missing = runner.invoke(
        cli, ["backup", "verify", point.id, "--deep", "--identity-file", str(tmp_path / "no")]
    )
    assert missing.exit_code == 1
    assert "cannot be read" in missing.output


def test_a_terminal_sees_progress_bars_and_a_pipe_sees_lines(
    db: Database, database_url: str, tmp_path: Path
) -> None:
    settings = backup_settings(database_url, tmp_path)
    seed_backup_data(db, settings, files=2)
    env = {**os.environ, "COLUMNS": "120", "TERM": "xterm"}
    for name in ("database_url", "storage_dir", "backup_dir", "audit_checkpoint_dir"):
        env[f"DARVAZA_{name.upper()}"] = str(getattr(settings, name))
    command = [sys.executable, "-m", "darvaza.cli", "backup", "create"]

    piped = subprocess.run(
        command, check=False, env=env, capture_output=True, text=True, timeout=120
    )
    assert piped.returncode == 0, piped.stderr
    assert "backup: files: archiving 2 stored files (zstd)" in piped.stderr
    assert "━" not in piped.stderr  # no bar drawn into a log

    main, side = pty.openpty()
    with subprocess.Popen(command, env=env, stdout=side, stderr=side) as running:
        os.close(side)
        seen = b""
        while True:
            try:
                chunk = os.read(main, 4096)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
        assert running.wait(timeout=120) == 0, seen.decode(errors="replace")
    os.close(main)
    shown = seen.decode(errors="replace")
    assert "━" in shown, shown
    assert "100%" in shown
