"""The restore points and restore drills over HTTP, read only, for platform admins and
auditors: newest first and paged, each restore point with its newest verification and
drill; a damaged or half-written one is not a restore point; evidence recorded by hand
with odd details is read for what it holds."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from starlette.types import ASGIApp

from darvaza.clock import utcnow
from darvaza.config import Settings
from darvaza.db import Database
from darvaza.operations.service import Drill, Run, create_backup, record_evidence
from darvaza.security.caller import Actor
from darvaza.security.roles import PlatformRole
from tests.support.backups import backup_settings, seed_backup_data
from tests.support.world import GENEROUS, Api, admin_token, error_code, person

CLI = Actor.system("cli")


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return backup_settings(database_url, tmp_path, **GENEROUS)


@pytest.fixture
def backups_api(db: Database, settings: Settings, serve: Callable[[ASGIApp], str]) -> Api:
    from darvaza.app import create_app

    return Api(serve(create_app(settings)), db)


def _verified(db: Database, settings: Settings, point: str, result: str, minutes_ago: int) -> str:
    at = utcnow() - timedelta(minutes=minutes_ago)
    run = Run("backup_verify", "deep", result, {"point": point}, started_at=at, finished_at=at)
    return str(record_evidence(db, settings, CLI, run).id)


def test_restore_points_are_listed_newest_first_with_their_newest_verify_and_drill(
    db: Database, settings: Settings, backups_api: Api
) -> None:
    seed_backup_data(db, settings, files=2)
    folder = Path(settings.backup_dir)
    oldest, middle, newest = (create_backup(db, settings, folder=folder, label=f"n{n}")
                              for n in range(3))  # fmt: skip
    _verified(db, settings, middle.id, "failed", minutes_ago=10)
    passed = _verified(db, settings, middle.id, "passed", minutes_ago=5)
    _verified(db, settings, oldest.id, "failed", minutes_ago=1)
    drill = Drill(point=newest.id, rto_seconds=41.5, rpo_seconds=3.0,
                  steps=[{"step": "smoke all", "seconds": 30.1}])  # fmt: skip
    drilled = record_evidence(db, settings, CLI, drill.run(started_at=utcnow())).id
    token = admin_token(db)

    first = backups_api.call("GET", "/api/v1/admin/backups?limit=2", token)
    assert first.status_code == 200, first.text
    page = first.json()
    assert [item["id"] for item in page["items"]] == [newest.id, middle.id]
    rest = backups_api.call(
        "GET", f"/api/v1/admin/backups?limit=2&cursor={page['next_cursor']}", token
    ).json()
    assert ([item["id"] for item in rest["items"]], rest["next_cursor"]) == ([oldest.id], None)

    shown_newest, shown_middle = page["items"]
    assert shown_newest["last_drill"]["id"] == str(drilled)
    assert shown_newest["last_verify"] is None
    assert (shown_middle["last_verify"]["id"], shown_middle["last_verify"]["result"]) == (
        passed, "passed",
    )  # fmt: skip
    assert shown_middle["label"] == "n1"
    assert shown_middle["engine"] == middle.engine
    assert shown_middle["tables"] == middle.manifest["tables"]
    assert shown_middle["files"] == 2
    assert shown_middle["bytes"] == middle.size
    assert [part["name"] for part in shown_middle["parts"]] == [
        part["name"] for part in middle.manifest["parts"]
    ]
    assert {(p["plain_name"], tuple(p["encoding"])) for p in shown_middle["parts"]} == {
        (p["plain_name"], ("zstd",)) for p in middle.manifest["parts"]
    }
    assert shown_middle["sealing"] == {"compression": "zstd", "age_recipients": []}
    assert shown_middle["migration_head"] == middle.manifest["migration_head"]

    one = backups_api.call("GET", f"/api/v1/admin/backups/{oldest.id}", token)
    assert one.status_code == 200, one.text
    assert one.json()["last_verify"]["result"] == "failed"


def test_only_platform_admins_and_auditors_read_them(
    db: Database, settings: Settings, backups_api: Api
) -> None:
    point = create_backup(db, settings, folder=Path(settings.backup_dir))
    auditor = backups_api.login(person(db, PlatformRole.AUDITOR))
    support = backups_api.login(person(db, PlatformRole.SUPPORT_ADMIN))
    for path in ("/api/v1/admin/backups", f"/api/v1/admin/backups/{point.id}",
                 "/api/v1/admin/restore-drills"):  # fmt: skip
        assert backups_api.call("GET", path, auditor).status_code == 200
        refused = backups_api.call("GET", path, support)
        assert (refused.status_code, error_code(refused)) == (403, "forbidden")
        assert backups_api.call("GET", path).status_code == 401
    # Nothing makes or restores one over HTTP.
    made = backups_api.call("POST", "/api/v1/admin/backups", admin_token(db))
    assert made.status_code == 405


def test_what_is_not_a_whole_restore_point_is_not_found(
    db: Database, settings: Settings, backups_api: Api
) -> None:
    folder = Path(settings.backup_dir)
    whole, damaged = (create_backup(db, settings, folder=folder) for _ in range(2))
    manifest = json.loads((damaged.path / "manifest.json").read_text())
    del manifest["tables"]
    (damaged.path / "manifest.json").write_text(json.dumps(manifest))
    half = folder / ".partial-20261201T000000Z-abcdef"
    half.mkdir()
    token = admin_token(db)

    listed = backups_api.call("GET", "/api/v1/admin/backups", token).json()["items"]
    assert [item["id"] for item in listed] == [whole.id]
    gone = backups_api.call("GET", f"/api/v1/admin/backups/{damaged.id}", token)
    assert (gone.status_code, error_code(gone)) == (404, "not_found")
    assert "darvaza backup verify" in gone.json()["error"]["message"]
    assert str(folder) not in gone.text  # the server's paths stay on the server
    missing = backups_api.call("GET", "/api/v1/admin/backups/20200101T000000Z-000000", token)
    assert missing.status_code == 404
    for bad in ("..", ".partial-20261201T000000Z-abcdef", "x" * 30):
        assert backups_api.call("GET", f"/api/v1/admin/backups/{bad}", token).status_code in (
            404, 422,
        )  # fmt: skip
    bad_cursor = backups_api.call("GET", "/api/v1/admin/backups?cursor=nope", token)
    assert bad_cursor.status_code == 422


def test_drills_are_listed_from_their_evidence_read_for_what_it_holds(
    db: Database, settings: Settings, backups_api: Api
) -> None:
    token = admin_token(db)
    passed = Drill(point="20261201T000000Z-abcdef", rto_seconds=50.25, rpo_seconds=7,
                   steps=[{"step": "backup", "seconds": 1.5, "point": "p"},
                          {"step": "smoke all", "seconds": 30}])  # fmt: skip
    record_evidence(db, settings, CLI, passed.run(started_at=utcnow() - timedelta(minutes=1)))
    by_hand = backups_api.call("POST", "/api/v1/admin/evidence", token, json={
        "kind": "restore_drill", "name": "restore", "result": "failed",
        "details": {"point": 5, "rto_seconds": "fast", "steps": "all", "problems": ["x", None]},
    })  # fmt: skip
    assert by_hand.status_code == 201, by_hand.text
    record_evidence(db, settings, CLI, Run("backup", "restore_point", "passed", {"point": "p"}))

    listed = backups_api.call("GET", "/api/v1/admin/restore-drills", token)
    assert listed.status_code == 200, listed.text
    odd, good = listed.json()["items"]  # newest first; the backup is not a drill
    assert (good["result"], good["point"], good["rto_seconds"], good["rpo_seconds"]) == (
        "passed", "20261201T000000Z-abcdef", 50.25, 7.0,
    )  # fmt: skip
    assert good["steps"] == [
        {"step": "backup", "seconds": 1.5},
        {"step": "smoke all", "seconds": 30},
    ]
    assert (odd["result"], odd["point"], odd["rto_seconds"], odd["steps"], odd["problems"]) == (
        "failed", None, None, [], ["x"],
    )  # fmt: skip
    only_failed = backups_api.call("GET", "/api/v1/admin/restore-drills?result=failed", token)
    assert [item["id"] for item in only_failed.json()["items"]] == [odd["id"]]
    paged = backups_api.call("GET", "/api/v1/admin/restore-drills?limit=1", token).json()
    after = backups_api.call(
        "GET", f"/api/v1/admin/restore-drills?limit=1&cursor={paged['next_cursor']}", token
    ).json()
    assert [item["id"] for item in after["items"]] == [good["id"]]
