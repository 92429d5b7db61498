"""`darvaza drill incident`: the incident path rehearsed end to end on scratch copies of
the live data, never on the live data itself.

From one restore point (a new one, or the one named), two copies are restored and
deep-checked. On the first the release is rolled back one migration as `darvaza release
rollback` does (a downgrade through an expand migration, every kept table's rows counted
before and after) and brought up again: the rollback rehearsal. On the second, a test
SEV3 incident is declared, the finding its overdue update raises is linked to it, an
internal and a public update are posted, the rollback is recorded as its mitigation with
that rollback's evidence, and it is resolved and reviewed; then its story, its durations,
its review and the status page (public update shown, internal note not) are checked. The
verdict is `incident_drill` evidence on the live instance, with each step's seconds.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from darvaza.clock import utcnow
from darvaza.config import Settings
from darvaza.db import Database
from darvaza.errors import DarvazaError
from darvaza.incidents import service as incidents
from darvaza.incidents.checks import CHECKS
from darvaza.operations import service as operations
from darvaza.ops import service as ops
from darvaza.parts import Parts
from darvaza.revisions import between, head_revisions
from darvaza.security.caller import Actor

ACTOR = Actor.system("incident-drill")
TITLE = "Drill: checkouts fail at the gateway"
INTERNAL = "Drill: internal note, never published."
PUBLIC = "Drill: some checkouts fail; we are rolling back."
STORY = ["declared", "finding", "update", "update", "mitigation", "status", "status",
         "status", "review"]  # fmt: skip


@dataclass
class IncidentDrill:
    point: str = ""
    incident_id: str | None = None
    steps: list[dict[str, Any]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    durations: dict[str, float | None] = field(default_factory=dict)

    @property
    def result(self) -> str:
        return "failed" if self.problems or not self.steps else "passed"

    def run(self, *, started_at: datetime) -> operations.Run:
        """Its `incident_drill` evidence."""
        details = {
            "point": self.point, "incident_id": self.incident_id, "durations": self.durations,
            "steps": self.steps, "problems": self.problems[:50],
        }  # fmt: skip
        return operations.Run("incident_drill", "incident", self.result, details,
                              started_at=started_at)  # fmt: skip


def _rows(db: Database) -> dict[str, int]:
    with db.engine.connect() as connection:
        return operations.read_snapshot(connection).tables


def _rehearse_rollback(copy: operations.ScratchCopy, steps: operations.Steps,
                       started_at: datetime) -> operations.Run:  # fmt: skip
    """Roll the copy back one migration and up again; the rollback's evidence."""
    head = max(head_revisions())
    target = between(None, head)[-1].down_revision
    if target is None:
        raise operations.BackupError("The code has one migration: there is nothing to undo.")
    at = time.monotonic()
    copy.darvaza("migrate")
    scratch = Database(copy.url)
    problems: list[str] = []
    try:
        plan = operations.plan_rollback(scratch, copy.settings, target)
        if not plan.reversible:
            raise operations.BackupError(" ".join(plan.describe()))
        before = _rows(scratch)
        operations.roll_back(scratch, plan)
        after = _rows(scratch)
        problems += [
            f"{table}: {before[table]} rows before the rollback, {count} after"
            for table, count in after.items() if table in before and before[table] != count
        ]  # fmt: skip
    finally:
        scratch.dispose()
    copy.darvaza("migrate")
    steps.took(f"rollback rehearsal: {head} → {target} → {head}", at)
    steps.problems += problems
    return plan.run(result="failed" if problems else "passed", started_at=started_at,
                    problems=problems)  # fmt: skip


def _walk_the_path(scratch: Database, settings: Settings, rollback: operations.Run,
                   steps: operations.Steps, drill: IncidentDrill) -> None:  # fmt: skip
    """The incident's whole path on the copy, and what must be true of it afterwards."""
    rules = incidents.IncidentRules.from_settings(settings)
    evidence = operations.record_evidence(scratch, settings, ACTOR, rollback)
    commander = _a_staff_member(scratch)
    at = time.monotonic()
    now = utcnow()
    incident_id = incidents.declare_incident(
        scratch, ACTOR, rules, title=TITLE, severity="SEV3", commander_email=commander,
        summary="A drill of the incident path.", components=["payments"], all_tenants=True,
        started_at=now - timedelta(minutes=20), detected_at=now - timedelta(minutes=10),
    )  # fmt: skip
    drill.incident_id = str(incident_id)
    # The update it owes: as the check will see it once its time is past.
    overdue = next(check for check in CHECKS if check.code == "incidents.update_overdue")
    later = now + rules.cadence["SEV3"] + timedelta(minutes=1)
    ops.run_check(Parts(settings, scratch), overdue, now=later)
    raised = ops.list_findings(scratch, ops.FindingFilter(code=overdue.code), limit=50).items
    found = [f for f in raised if f.subject_id == str(incident_id)]
    if not found:
        raise operations.BackupError("The overdue update raised no finding to link.")
    incidents.link_finding(scratch, ACTOR, incident_id, found[0].id)
    incidents.post_update(scratch, ACTOR, rules, incident_id, body=INTERNAL, public=False)
    incidents.post_update(scratch, ACTOR, rules, incident_id, body=PUBLIC, public=True)
    incidents.record_mitigation(
        scratch, ACTOR, incident_id, kind="rollback",
        result="succeeded" if rollback.result == "passed" else "failed", evidence_id=evidence.id,
        description="Rolled the release back one migration (rehearsed on a scratch copy).",
    )  # fmt: skip
    for status in ("mitigated", "resolved"):
        incidents.set_status(scratch, ACTOR, rules, incident_id, status, reason="Drill")
    incidents.review_incident(
        scratch, ACTOR, rules, incident_id,
        parts={"summary": "A drill.", "impact_notes": "None: a drill on a scratch copy.",
               "timeline_summary": "Declared, updated, rolled back, resolved.",
               "root_causes": "None: a drill.", "went_well": "The path held.",
               "went_badly": "Nothing."},
        action_items=[incidents.ActionItemIn("Read the drill's evidence", commander,
                                             utcnow() + timedelta(days=7))],
    )  # fmt: skip
    steps.took("declare, link, update, mitigate, resolve, review", at)
    _check_the_outcome(scratch, settings, incident_id, drill)


def _a_staff_member(scratch: Database) -> str:
    """A platform admin made on the copy for the drill: its commander."""
    from darvaza.identity import service as identity
    from darvaza.security.roles import PlatformRole

    email = f"incident-drill-{uuid.uuid4().hex[:8]}@example.com"
    identity.create_user(scratch, ACTOR, email=email, password=uuid.uuid4().hex * 2,
                         min_length=12, platform_role=PlatformRole.PLATFORM_ADMIN)  # fmt: skip
    return email


def _check_the_outcome(scratch: Database, settings: Settings, incident_id: uuid.UUID,
                       drill: IncidentDrill) -> None:  # fmt: skip
    view = incidents.get_incident(scratch, incident_id)
    story = [e.kind for e in incidents.incident_timeline(scratch, incident_id).events]
    drill.durations = incidents.durations(view.incident)
    checks = [
        (view.incident.status == "reviewed", f"the incident ended {view.incident.status}"),
        (story == STORY, f"the story is {story}"),
        (view.review is not None and len(view.action_items) == 1, "the review is missing"),
        (bool(view.findings), "no finding is linked"),
        (all(v is not None for v in drill.durations.values()), "a duration is missing"),
    ]
    public = incidents.public_status(scratch, days=settings.status_page_days)
    shown = [u.body for i in public.recent if i.id == incident_id for u in i.updates]
    checks += [(shown == [PUBLIC], f"the status page shows {shown}, not the public update")]
    drill.problems += [problem for ok, problem in checks if not ok]


def run_incident_drill(
    db: Database, settings: Settings, *, point: operations.RestorePoint | None = None,
    progress: Callable[[str], None] | None = None,
) -> IncidentDrill:  # fmt: skip
    """Rehearse the incident path (see the module's note); the drill's steps and verdict."""
    steps = operations.Steps(operations.Progress(progress or (lambda _line: None)))
    drill = IncidentDrill(steps=steps.steps, problems=steps.problems)
    started = utcnow()
    try:
        point = operations.point_for(db, settings, point, steps, "incident-drill")
        drill.point = point.id
        with operations.scratch_copy(settings, point, steps) as copy:
            if steps.problems:
                return drill
            rollback = _rehearse_rollback(copy, steps, started)
        with operations.scratch_copy(settings, point, steps) as copy:
            copy.darvaza("migrate")
            scratch = Database(copy.url)
            try:
                _walk_the_path(scratch, copy.settings, rollback, steps, drill)
            finally:
                scratch.dispose()
    except (operations.BackupError, DarvazaError, ValueError) as exc:
        steps.problems.append(getattr(exc, "message", None) or str(exc))
    return drill
