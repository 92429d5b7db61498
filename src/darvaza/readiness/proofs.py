"""The V1 proofs, defined once: each a set of rules over recorded evidence (what kind and
name, from which instance, how old at most) and over live state, and the commands that
produce what is missing. The report (`service.readiness_report`) reads this table and
nothing else decides whether the platform may go live.

An evidence rule counts the newest record of its kind and name from the instance the
report is about (its name and profile), or, for a staging rule, from an instance whose
profile is `staging`. The newest record decides: a failed run after a passed one is a
failure. A passed record older than the rule's window is stale, and stale never counts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from darvaza.build import Instance
from darvaza.checks import CheckSet
from darvaza.config import Settings
from darvaza.config.safety import problems as settings_problems
from darvaza.errors import N_, Phrase
from darvaza.jobs.service import WorkerView
from darvaza.operations.smoke.all import CHECK_NAMES as SMOKE_CHECKS
from darvaza.ops.alert_routes import AlertRoutes, unrouted_checks
from darvaza.ops.service import Summary
from darvaza.revisions import MigrationStatus


@dataclass(frozen=True)
class Facts:
    """The live state a report reads, gathered once per report."""

    settings: Settings
    instance: Instance
    for_profile: str
    now: datetime
    migrations: MigrationStatus
    summary: Summary
    checks: CheckSet
    workers: list[WorkerView]
    alert_routes: AlertRoutes | None
    alert_routes_problem: str | None
    major_incidents_active: int
    break_glass_unreviewed: int

    @property
    def route_names(self) -> tuple[str, ...]:
        return tuple(r.name for r in self.alert_routes.routes) if self.alert_routes else ()


# A live rule reads the facts and says what blocks the proof (nothing: it holds).
LiveRule = Callable[[Facts], list[Phrase]]


@dataclass(frozen=True)
class EvidenceRule:
    kind: str
    # The names that must each have fresh passing evidence (from the facts, for the routes).
    names: Callable[[Facts], tuple[str, ...]]
    max_age: Callable[[Settings], timedelta]
    # The command that records it; `{name}` is the missing name, `{staging}` staging's URL.
    command: str
    staging: bool = False


@dataclass(frozen=True)
class Proof:
    key: str
    title: str
    description: str
    evidence: tuple[EvidenceRule, ...] = ()
    live: tuple[tuple[LiveRule, str], ...] = ()  # each rule with the command that fixes it
    # The profiles where it may never stand exempt.
    never_exempt_on: tuple[str, ...] = ()
    # The stop: passes only when every other proof passes or is exempt; never exempt.
    stop: bool = False

    def exemptable(self, profile: str) -> bool:
        return not self.stop and profile not in self.never_exempt_on


def _names(*names: str) -> Callable[[Facts], tuple[str, ...]]:
    def fixed(_facts: Facts) -> tuple[str, ...]:
        return names

    return fixed


def _route_names(facts: Facts) -> tuple[str, ...]:
    return facts.route_names


def _days(days: int) -> Callable[[Settings], timedelta]:
    def window(_settings: Settings) -> timedelta:
        return timedelta(days=days)

    return window


def _backup_window(settings: Settings) -> timedelta:
    return timedelta(hours=settings.backup_max_age_hours)


def _drill_window(settings: Settings) -> timedelta:
    return timedelta(days=settings.restore_drill_max_age_days)


def _build_known(facts: Facts) -> list[Phrase]:
    revision = facts.instance.revision
    if revision is None:
        return [Phrase(N_("The running build's revision is unknown: set DARVAZA_REVISION."))]
    if facts.for_profile == "production" and revision.endswith("-dirty"):
        return [
            Phrase(N_("The running build has uncommitted changes (its revision ends in -dirty)."))
        ]
    return []


def _settings_safe(facts: Facts) -> list[Phrase]:
    # The problem itself stays as `config check` words it: it names settings.
    return [
        Phrase(N_("Unsafe setting: %(problem)s"), {"problem": problem})
        for problem in settings_problems(facts.settings)
    ]


def _no_pending_migration(facts: Facts) -> list[Phrase]:
    status = facts.migrations
    if not status.pending:
        return []
    return [Phrase(N_("The schema is not current: %(status)s."), {"status": status.describe()})]


def _checks_fresh(facts: Facts) -> list[Phrase]:
    stale = [s.check.code for s in facts.summary.checks if s.stale]
    if not stale:
        return []
    return [
        Phrase(
            N_("Ops checks that have not run within their window (%(count)s): %(checks)s"),
            {"count": len(stale), "checks": ", ".join(stale[:8])},
        )
    ]


def _worker_alive(facts: Facts) -> list[Phrase]:
    if any(not view.gone for view in facts.workers):
        return []
    return [Phrase(N_("No worker is alive: nothing runs the checks, the backups or the upkeep."))]


def _no_open_critical(facts: Facts) -> list[Phrase]:
    return [
        Phrase(
            N_("Open critical finding: %(code)s (%(subject)s)"),
            {"code": view.finding.code, "subject": view.finding.subject_id},
        )
        for view in facts.summary.findings
        if view.state == "open" and view.finding.severity == "critical"
    ]


def _metrics_guarded(facts: Facts) -> list[Phrase]:
    if facts.instance.profile == "local" or facts.settings.metrics_token is not None:
        return []
    return [Phrase(N_("GET /metrics is open to anyone: set DARVAZA_METRICS_TOKEN."))]


def _routes_owned(facts: Facts) -> list[Phrase]:
    if facts.alert_routes is None:
        return [
            Phrase(
                N_("The alert routes cannot be used: %(problem)s"),
                {"problem": facts.alert_routes_problem},
            )
        ]
    found = [
        Phrase(N_("Alert route %(route)s has no owner."), {"route": r.name})
        for r in facts.alert_routes.routes
        if not r.owner
    ]
    unrouted = unrouted_checks(facts.alert_routes, facts.checks)
    if unrouted:
        found.append(
            Phrase(N_("Checks routed nowhere: %(checks)s"), {"checks": ", ".join(unrouted[:8])})
        )
    if not facts.alert_routes.routes:
        found.append(Phrase(N_("No alert route is defined: findings reach nobody.")))
    return found


def _no_major_incident(facts: Facts) -> list[Phrase]:
    count = facts.major_incidents_active
    if not count:
        return []
    return [Phrase(N_("Major incidents (SEV1 or SEV2) still open: %(count)s."), {"count": count})]


def _audit_holds(facts: Facts) -> list[Phrase]:
    found = [
        Phrase(
            N_("The audit check %(check)s has not run within its window."),
            {"check": status.check.code},
        )
        for status in facts.summary.checks
        if status.check.code.startswith("audit.") and status.stale
    ]
    found += [
        Phrase(N_("Unresolved audit finding: %(code)s"), {"code": view.finding.code})
        for view in facts.summary.findings
        if view.finding.code.startswith("audit.")
    ]
    return found


def _break_glass_reviewed(facts: Facts) -> list[Phrase]:
    count = facts.break_glass_unreviewed
    if not count:
        return []
    return [Phrase(N_("Break-glass support grants not yet reviewed: %(count)s."), {"count": count})]


SMOKE = "darvaza smoke {name} --base-url {staging} --admin-token <staging token>"
PROOFS: tuple[Proof, ...] = (
    Proof(
        "staging_smoke",
        N_("Staging smoke"),
        N_("Every smoke check passed against staging (for production: this very build)."),
        evidence=(EvidenceRule("smoke", _names(*SMOKE_CHECKS), _days(7), SMOKE, staging=True),),
    ),
    Proof(
        "deployment",
        N_("Deployment"),
        N_("The release was rehearsed on this instance, and the build running is known."),
        evidence=(
            EvidenceRule("release_dry_run", _names("schema"), _days(7), "darvaza release dry-run"),
        ),
        live=((_build_known, "DARVAZA_REVISION=<commit> darvaza serve"),),
    ),
    Proof(
        "environment",
        N_("Environment and secrets"),
        N_("The settings are safe for the profile, as checked where the instance runs."),
        evidence=(
            EvidenceRule("config_check", _names("settings"), _days(7), "darvaza config check"),
        ),
        live=((_settings_safe, "darvaza config check"),),
    ),
    Proof(
        "migration",
        N_("Migration"),
        N_("The schema is at the head and matches the models."),
        evidence=(
            EvidenceRule("migration_check", _names("schema"), _days(7), "darvaza migrate --check"),
        ),
        live=((_no_pending_migration, "darvaza migrate"),),
    ),
    Proof(
        "backup",
        N_("Backup"),
        N_("A restore point was taken and verified deeply within the backup window."),
        evidence=(
            EvidenceRule(
                "backup",
                _names("restore_point"),
                lambda s: timedelta(hours=s.backup_max_age_hours),
                "darvaza backup create",
            ),
            EvidenceRule(
                "backup_verify",
                _names("deep"),
                lambda s: timedelta(hours=s.backup_max_age_hours),
                "darvaza backup verify <restore point> --deep",
            ),
        ),
        never_exempt_on=("production",),
    ),
    Proof(
        "restore_drill",
        N_("Restore drill"),
        N_("A whole recovery was rehearsed and its smoke checks passed."),
        evidence=(
            EvidenceRule(
                "restore_drill",
                _names("restore"),
                lambda s: timedelta(days=s.restore_drill_max_age_days),
                "darvaza drill restore",
            ),
        ),
        never_exempt_on=("production",),
    ),
    Proof(
        "monitoring",
        N_("Monitoring and logs"),
        N_(
            "A worker runs every check in its window, no critical finding is open, and the "
            "metrics are guarded."
        ),
        live=(
            (_worker_alive, "darvaza worker"),
            (_checks_fresh, "darvaza ops check"),
            (_no_open_critical, "darvaza ops summary"),
            (_metrics_guarded, "darvaza config check"),
        ),
    ),
    Proof(
        "alert_routing",
        N_("Alert routing"),
        N_("Every finding reaches an owner, and every route's receivers took a test alert."),
        evidence=(
            EvidenceRule(
                "alert_test",
                lambda facts: facts.route_names,
                _days(30),
                "darvaza alerts test --route {name}",
            ),
        ),
        live=((_routes_owned, "darvaza alerts routes"),),
    ),
    Proof(
        "incident_rollback",
        N_("Incident and rollback"),
        N_(
            "An incident's whole path and a release rollback were rehearsed, and no major "
            "incident is open."
        ),
        evidence=(
            EvidenceRule("incident_drill", _names("incident"), _days(90), "darvaza drill incident"),
        ),
        live=((_no_major_incident, "darvaza incidents list --status open"),),
    ),
    Proof(
        "support_audit",
        N_("Support and audit handoff"),
        N_(
            "The audit log verifies, an auditor's bundle was written and verified, and every "
            "break-glass support grant was reviewed."
        ),
        evidence=(
            EvidenceRule(
                "audit_export", _names("bundle"), _days(30), "darvaza audit export --to <folder>"
            ),
        ),
        live=(
            (_audit_holds, "darvaza audit verify"),
            (_break_glass_reviewed, "darvaza support grants list --state approved"),
        ),
    ),
    Proof(
        "production_claim",
        N_("Production claim"),
        N_(
            "Nothing above is missing, stale or failing: anything short of proof stops the release."
        ),
        stop=True,
    ),
)
PROOF_KEYS: tuple[str, ...] = tuple(proof.key for proof in PROOFS)


def proof_named(key: str) -> Proof | None:
    return next((proof for proof in PROOFS if proof.key == key), None)
