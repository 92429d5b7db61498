"""The readiness report, judged from seeded evidence and live state with an injected
clock: every proof passes, fails, goes stale and goes missing; evidence of another
instance never counts; staging's evidence is read from staging's own API, only of this
build for production; and the verdict is READY only when every proof holds."""

from __future__ import annotations

import shlex
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, get_args

import typer
from sqlalchemy import delete

from darvaza.assembly import CHECKS
from darvaza.cli import app as cli
from darvaza.clock import utcnow
from darvaza.config import Settings
from darvaza.db import Database
from darvaza.jobs.models import WorkerHeartbeat
from darvaza.operations.service import Run, record_evidence
from darvaza.ops.alert_routes import load_alert_routes
from darvaza.ops.models import OpsCheckRun
from darvaza.ops.service import run_checks
from darvaza.readiness.proofs import PROOFS, Facts
from darvaza.readiness.schemas import ProofKey
from darvaza.readiness.service import readiness_report
from darvaza.security.caller import Actor
from tests.support.jobs import parts as make_parts
from tests.support.settings import make_settings
from tests.support.world import make_app

ROBOT = Actor.system("test")
REVISION = "0123456789abcdef0123456789abcdef01234567"
STAGING = {
    "profile": "staging", "secret_key": "k" * 32, "audit_key": "a" * 40,
    "public_url": "https://staging.example.com", "metrics_token": "t" * 32,
    "instance_name": "stage-1", "revision": REVISION,
}  # fmt: skip


def routes_file(tmp_path: Path) -> Path:
    path = tmp_path / "alerts.yaml"
    path.write_text(
        """receivers:
  - name: hook
    webhook:
      url: https://hooks.example.com/darvaza
routes:
  - name: everything
    owner: platform_admin
    match:
      severity: [critical, high, medium, low]
    receivers: [hook]
""",
        encoding="utf-8",
    )
    return path


def staging_settings(tmp_path: Path, **more: Any) -> Settings:
    return make_settings(**{
        **STAGING, "alert_routes_file": str(routes_file(tmp_path)),
        "alert_webhook_secret": "w" * 32, **more,
    })  # fmt: skip


def seed(db: Database, settings: Settings, at: datetime, result: str = "passed",
         only: set[str] | None = None) -> None:  # fmt: skip
    """Evidence of every rule of every proof (or of the proofs named), recorded at `at`
    by the instance of `settings`."""
    routes = tuple(route.name for route in load_alert_routes(settings).routes)
    for proof in PROOFS:
        if only is not None and proof.key not in only:
            continue
        for rule in proof.evidence:
            names = routes if rule.kind == "alert_test" else rule.names(None)  # type: ignore[arg-type]
            for name in names:
                run = Run(rule.kind, name, result, started_at=at - timedelta(seconds=5))
                record_evidence(db, settings, ROBOT, run, now=at)


def live_and_well(db: Database, settings: Settings, now: datetime) -> None:
    """A worker reports in and every check has just run."""
    with db.transaction() as session:
        session.add(WorkerHeartbeat(
            id="w1", host="h", pid=1, queues="default", concurrency=1, state="running",
            started_at=utcnow(), last_seen_at=utcnow(),
        ))  # fmt: skip
    run_checks(make_parts(db, **_fields(settings)), list(CHECKS), now=now)


def _fields(settings: Settings) -> dict[str, Any]:
    names = (
        "profile", "secret_key", "audit_key", "public_url", "metrics_token", "instance_name",
        "revision", "alert_routes_file", "alert_webhook_secret",
    )  # fmt: skip
    return {name: getattr(settings, name) for name in names}


def report(db: Database, settings: Settings, now: datetime, **more: Any) -> dict[str, Any]:
    judged = readiness_report(db, settings, CHECKS, load_alert_routes(settings), now=now, **more)
    return {"verdict": judged.verdict, **{p.key: p for p in judged.proofs}}


def said(proof: Any) -> list[str]:
    """A proof's blockers as the API and the CLI write them (in English)."""
    return [str(blocker) for blocker in proof.blockers]


def statuses(db: Database, settings: Settings, now: datetime, **more: Any) -> dict[str, str]:
    found = report(db, settings, now, **more)
    return {key: proof.status for key, proof in found.items() if key != "verdict"}


def test_the_schema_names_every_proof_in_order() -> None:
    assert get_args(ProofKey) == tuple(proof.key for proof in PROOFS)
    assert len(PROOFS) == 11


def test_every_command_a_proof_names_is_a_real_command_and_options() -> None:
    root = typer.main.get_command(cli)
    commands = [
        rule.command.format(name=name, staging="https://staging.example.com")
        for p in PROOFS
        for rule in p.evidence
        for name in (("pager",) if rule.kind == "alert_test" else rule.names(None))  # type: ignore[arg-type]
    ]
    commands += [command for p in PROOFS for _, command in p.live]
    for line in commands:
        words = shlex.split(line.replace("<", "").replace(">", ""))
        words = [w for w in words if "=" not in w or w.startswith("-")]
        assert words[0] == "darvaza", line
        command: Any = root
        rest = words[1:]
        while rest and rest[0] in getattr(command, "commands", {}):
            command, rest = command.commands[rest[0]], rest[1:]
        assert not getattr(command, "commands", None), f"{line}: no such command"
        known = {opt for param in command.params for opt in param.opts}
        for word in rest:
            if word.startswith("--"):
                assert word in known, f"{line}: {word} is not an option of it"


def test_everything_is_missing_on_a_fresh_instance(db: Database, tmp_path: Path) -> None:
    settings = staging_settings(tmp_path)
    found = report(db, settings, utcnow())
    assert found["verdict"] == "NOT_READY"
    missing = ("staging_smoke", "deployment", "environment", "migration", "backup",
               "restore_drill", "alert_routing", "incident_rollback")  # fmt: skip
    for key in missing:
        assert found[key].status == "missing", key
        assert found[key].commands, key
    # The audit checks never ran either: a live failure outranks missing evidence.
    assert found["support_audit"].status == "fail"
    assert "darvaza audit verify" in found["support_audit"].commands
    assert found["backup"].commands == [
        "darvaza backup create",
        "darvaza backup verify <restore point> --deep",
    ]
    assert "darvaza alerts test --route everything" in found["alert_routing"].commands
    # No worker and no check ever ran: monitoring fails on live state.
    assert found["monitoring"].status == "fail"
    assert "darvaza worker" in found["monitoring"].commands
    stop = found["production_claim"]
    assert stop.status == "fail"
    assert len(stop.blockers) == 10


def test_seeded_evidence_and_a_live_instance_are_ready(db: Database, tmp_path: Path) -> None:
    settings = staging_settings(tmp_path)
    now = utcnow()
    seed(db, settings, now - timedelta(hours=1))
    live_and_well(db, settings, now)
    found = report(db, settings, now)
    failing = {k: (p.status, p.blockers) for k, p in found.items() if k != "verdict"
               and p.status != "pass"}  # fmt: skip
    assert failing == {}
    assert found["verdict"] == "READY"
    used = found["backup"].evidence
    assert [(u.kind, u.name, u.result) for u in used] == [
        ("backup", "restore_point", "passed"),
        ("backup_verify", "deep", "passed"),
    ]
    assert all(round(u.age_seconds(now)) == 3600 for u in used)


def test_old_evidence_goes_stale_by_each_proofs_window(db: Database, tmp_path: Path) -> None:
    settings = staging_settings(tmp_path, backup_max_age_hours=26, restore_drill_max_age_days=7)
    then = utcnow()
    seed(db, settings, then)
    # 27 hours on, only the backup is past its window; 8 days on, the weekly ones too;
    # 31 days on, the monthly alert test; 91 days on, the incident drill.
    assert statuses(db, settings, then + timedelta(hours=27))["backup"] == "stale"
    assert statuses(db, settings, then + timedelta(hours=27))["restore_drill"] == "pass"
    week = statuses(db, settings, then + timedelta(days=8))
    assert {k for k, v in week.items() if v == "stale"} == {
        "staging_smoke",
        "deployment",
        "environment",
        "migration",
        "backup",
        "restore_drill",
    }
    assert week["alert_routing"] == "pass"
    assert statuses(db, settings, then + timedelta(days=31))["alert_routing"] == "stale"
    assert statuses(db, settings, then + timedelta(days=31))["incident_rollback"] == "pass"
    assert statuses(db, settings, then + timedelta(days=91))["incident_rollback"] == "stale"
    stale = report(db, settings, then + timedelta(hours=27))["backup"]
    assert said(stale)[0].startswith(
        "The newest backup/restore_point evidence is older than 26 hours"
    )


def test_the_newest_record_decides_a_failure_after_a_pass_fails(
    db: Database, tmp_path: Path
) -> None:
    settings = staging_settings(tmp_path)
    now = utcnow()
    seed(db, settings, now - timedelta(hours=2))
    seed(db, settings, now - timedelta(hours=1), result="failed", only={"restore_drill"})
    seed(db, settings, now - timedelta(hours=1), result="inconclusive", only={"backup"})
    found = report(db, settings, now)
    assert found["restore_drill"].status == "fail"
    assert found["backup"].status == "fail"
    assert "did not pass: inconclusive" in said(found["backup"])[0]
    assert said(found["production_claim"])[:2] == ["Backup fails.", "Restore drill fails."]
    seed(db, settings, now - timedelta(minutes=1), only={"restore_drill"})
    assert statuses(db, settings, now)["restore_drill"] == "pass"


def test_evidence_of_another_instance_never_counts(db: Database, tmp_path: Path) -> None:
    settings = staging_settings(tmp_path)
    now = utcnow()
    # The same profile under another name, and this name under another profile.
    seed(db, staging_settings(tmp_path, instance_name="stage-2"), now)
    seed(db, make_settings(instance_name="stage-1", revision=REVISION), now)
    found = statuses(db, settings, now)
    for key in ("deployment", "environment", "migration", "backup", "restore_drill",
                "alert_routing", "incident_rollback"):  # fmt: skip
        assert found[key] == "missing", key
    # Staging evidence is any staging instance's; the local one's never is.
    assert found["staging_smoke"] == "pass"


def test_live_state_fails_its_proof(db: Database, tmp_path: Path) -> None:
    settings = staging_settings(tmp_path)
    now = utcnow()
    seed(db, settings, now)
    live_and_well(db, settings, now)
    assert report(db, settings, now, for_profile="production")["deployment"].status == "pass"
    # Unsafe settings, checks that no longer run, a build with uncommitted changes.
    unsafe = staging_settings(tmp_path, metrics_token=None, debug=True, revision="abc-dirty")
    with db.transaction() as session:
        session.execute(delete(OpsCheckRun))
    found = report(db, unsafe, now, for_profile="production")
    assert found["environment"].status == "fail"
    assert said(found["environment"]) == ["Unsafe setting: DARVAZA_DEBUG is on"]
    assert "DARVAZA_METRICS_TOKEN" in " ".join(said(found["monitoring"]))
    assert any("have not run within their window" in b for b in said(found["monitoring"]))
    assert found["deployment"].status == "fail"
    assert "uncommitted changes" in said(found["deployment"])[0]


def test_staging_evidence_is_read_from_staging_and_of_this_build_for_production(
    db: Database, tmp_path: Path, serve: Any, sqlite_template: Path
) -> None:
    import shutil

    from tests.support.world import admin_token

    staging_path = tmp_path / "staging.db"
    shutil.copyfile(sqlite_template, staging_path)
    staging_db = Database(f"sqlite:///{staging_path}")
    try:
        now = utcnow()
        staged = staging_settings(tmp_path)
        seed(staging_db, staged, now - timedelta(hours=1), only={"staging_smoke"})
        # A local run of one check, newer, on staging's database: it never counts.
        record_evidence(staging_db, make_settings(revision=REVISION), ROBOT,
                        Run("smoke", "rbac-admin", "failed"), now=now)  # fmt: skip
        url = serve(make_app(f"sqlite:///{staging_path}"))
        token = admin_token(staging_db)
        here = make_settings(
            profile="local", instance_name="prod-1", revision=REVISION,
            readiness_staging_url=url, readiness_staging_token=token,
        )  # fmt: skip
        found = report(db, here, now, for_profile="production")["staging_smoke"]
        assert found.status == "pass", found.blockers
        assert {use.source for use in found.evidence} == {url}
        assert {use.instance_profile for use in found.evidence} == {"staging"}
        # Another build is running here: staging proved a different one.
        other = make_settings(
            instance_name="prod-1", revision="f" * 40,
            readiness_staging_url=url, readiness_staging_token=token,
        )  # fmt: skip
        moved = report(db, other, now, for_profile="production")["staging_smoke"]
        assert moved.status == "missing"
        # Without for=production any fresh staging evidence counts.
        assert report(db, other, now)["staging_smoke"].status == "pass"
        # A wrong token, or staging away: missing, saying why.
        wrong = make_settings(readiness_staging_url=url, readiness_staging_token="dzt_nope")
        refused = report(db, wrong, now)["staging_smoke"]
        assert refused.status == "missing"
        assert "from staging: staging answered 401" in said(refused)[0]
        unset = report(db, make_settings(), now)["staging_smoke"]
        assert "DARVAZA_READINESS_STAGING_URL" in said(unset)[0]
    finally:
        staging_db.dispose()


def test_facts_are_what_the_rules_read() -> None:
    # The rules read nothing but the facts: a new field is a deliberate change.
    assert set(Facts.__dataclass_fields__) == {
        "settings",
        "instance",
        "for_profile",
        "now",
        "migrations",
        "summary",
        "checks",
        "workers",
        "alert_routes",
        "alert_routes_problem",
        "major_incidents_active",
        "break_glass_unreviewed",
    }


def test_an_open_major_incident_blocks(db: Database, tmp_path: Path) -> None:
    from darvaza.incidents.service import IncidentRules, declare_incident
    from darvaza.security.roles import PlatformRole
    from tests.support.world import person

    settings = staging_settings(tmp_path)
    now = utcnow()
    seed(db, settings, now - timedelta(hours=1))
    admin = person(db, PlatformRole.PLATFORM_ADMIN)
    declare_incident(
        db, ROBOT, IncidentRules.from_settings(settings), title="Payments down",
        summary="", severity="SEV1", commander_email=admin.email, components=["payments"],
        tenant_slugs=[], all_tenants=True, started_at=None, detected_at=None, finding_id=None,
    )  # fmt: skip
    found = report(db, settings, now)
    assert found["incident_rollback"].status == "fail"
    assert said(found["incident_rollback"]) == ["Major incidents (SEV1 or SEV2) still open: 1."]
