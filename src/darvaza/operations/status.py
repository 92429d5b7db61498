"""The local status report (`darvaza status report`): one Markdown page of what this
instance is and how it is, read from its database when the command runs, so the page is
true to the runtime and nothing in it is typed by hand: the build and schema, the
summary's status, each check's freshness, the unresolved findings, the newest evidence
of every kind and name (with the kinds that have none), the workers and the queue."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from darvaza.build import Instance
from darvaza.checks import CheckSet
from darvaza.clock import utcnow
from darvaza.config import Settings
from darvaza.db import Database
from darvaza.jobs.service import QueueStats, WorkerView, list_workers, queue_stats
from darvaza.operations.evidence import latest_of_each
from darvaza.operations.models import EVIDENCE_KINDS, Evidence
from darvaza.ops.service import Summary, ops_summary
from darvaza.revisions import MigrationStatus, migration_status


@dataclass(frozen=True)
class StatusReport:
    generated_at: datetime
    instance: Instance
    engine: str
    migrations: MigrationStatus
    summary: Summary
    evidence: list[Evidence]
    workers: list[WorkerView]
    queue: QueueStats


def read_status(
    db: Database, settings: Settings, checks: CheckSet, *, now: datetime | None = None
) -> StatusReport:
    now = now or utcnow()
    return StatusReport(
        generated_at=now,
        instance=Instance.of(settings),
        engine=db.engine.dialect.name,
        migrations=migration_status(db),
        summary=ops_summary(db, settings, checks, now=now),
        evidence=latest_of_each(db),
        workers=list_workers(db, stale_after=settings.worker_stale_after),
        queue=queue_stats(db, stale_after=settings.worker_stale_after),
    )


def age(seconds: float) -> str:
    """A short human age: 45s, 12m, 3h05m, 9d."""
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes}m"
    if minutes < 48 * 60:
        return f"{minutes // 60}h{minutes % 60:02d}m"
    return f"{minutes // (24 * 60)}d"


def _when(moment: datetime | None) -> str:
    return "never" if moment is None else f"{moment:%Y-%m-%d %H:%M:%S} UTC"


def _cell(value: object) -> str:
    # A table cell is one line, and a pipe would end it early.
    return str(value).replace("|", "\\|").replace("\n", " ")


def _table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(value) for value in row) + " |" for row in rows]
    return lines


def _checks(report: StatusReport) -> list[str]:
    open_by_code = Counter(view.finding.code for view in report.summary.findings)
    rows = []
    for status in report.summary.checks:
        run = status.run
        state = "error" if status.error else "stale" if status.stale else "fresh"
        rows.append((
            f"`{status.check.code}`", status.check.severity, state,
            _when(run.finished_at if run else None),
            f"{run.duration_ms:.0f}" if run and run.duration_ms is not None else "",
            open_by_code[status.check.code], status.error or "",
        ))  # fmt: skip
    header = ("check", "severity", "state", "last run", "ms", "unresolved", "error")
    return _table(header, rows)


def _findings(report: StatusReport) -> list[str]:
    if not report.summary.findings:
        fresh = report.summary.all_checks_fresh
        return ["None." if fresh else "None seen, but not every check ran recently."]
    rows = [
        (
            view.finding.severity, f"`{view.finding.code}`",
            f"{view.finding.subject_type}:{view.finding.subject_id}", view.state,
            age(view.age_seconds), view.finding.observations,
            view.finding.tenants_affected, view.owner,
            f"`{view.playbook}`",
        )
        for view in report.summary.findings
    ]  # fmt: skip
    header = ("severity", "code", "subject", "state", "for", "seen", "tenants", "owner", "playbook")
    return _table(header, rows)


def _evidence(report: StatusReport) -> list[str]:
    now = report.generated_at
    rows: list[Sequence[object]] = [
        (
            row.kind, row.name, row.result, _when(row.recorded_at),
            age((now - row.recorded_at).total_seconds()),
            f"{row.instance_profile}/{row.instance_name}", row.revision or "",
        )
        for row in report.evidence
    ]  # fmt: skip
    recorded = {row.kind for row in report.evidence}
    rows += [(kind, "", "none recorded", "", "", "", "") for kind in EVIDENCE_KINDS
             if kind not in recorded]  # fmt: skip
    header = ("kind", "name", "result", "recorded", "age", "instance", "revision")
    return _table(header, rows)


def _workers_and_queue(report: StatusReport) -> list[str]:
    now = report.generated_at
    lines = [
        f"{report.queue.workers_live} live, {report.queue.workers_gone} gone; the oldest due "
        f"job has waited {age(report.queue.oldest_due_seconds)}.",
        "",
    ]
    if report.workers:
        lines += _table(
            ("worker", "state", "started", "last seen", "running", "succeeded", "failed"),
            (
                (
                    view.worker.id, "gone" if view.gone else view.worker.state,
                    _when(view.worker.started_at),
                    f"{age((now - view.worker.last_seen_at).total_seconds())} ago",
                    view.worker.jobs_running, view.worker.jobs_succeeded,
                    view.worker.jobs_failed,
                )
                for view in report.workers
            ),
        )  # fmt: skip
        lines.append("")
    by_state: Counter[str] = Counter()
    for (state, _kind), count in report.queue.by_state_and_kind.items():
        by_state[state] += count
    lines += _table(("jobs", "count"), sorted(by_state.items()) or [("none", 0)])
    dead = sorted(
        (kind, count)
        for (state, kind), count in report.queue.by_state_and_kind.items()
        if state == "dead"
    )
    if dead:
        lines += ["", "Dead jobs by kind: " + ", ".join(f"`{k}` {n}" for k, n in dead) + "."]
    return lines


def render_status(report: StatusReport) -> str:
    instance, summary = report.instance, report.summary
    counts = summary.counts()
    lines = [
        "# Local status",
        "",
        f"Written by `darvaza status report` at {_when(report.generated_at)} from the "
        "database of the instance below. Do not edit it: run the command again.",
        "",
        *_table(
            ("", ""),
            (
                ("status", f"**{summary.status}**"),
                ("instance", f"{instance.profile}/{instance.name}"),
                ("version", instance.version),
                ("revision", instance.revision or "unknown"),
                ("database", report.engine),
                ("schema", report.migrations.describe()),
            ),
        ),
        "",
        "Unresolved findings: "
        + ", ".join(f"{n} {severity}" for severity, n in counts["by_severity"].items())
        + f" ({counts['by_state']['acknowledged']} acknowledged).",
        "",
        "Whether it may go live: [READINESS.md](READINESS.md), written by `darvaza readiness` "
        "(run it again for a verdict as of now).",
        "",
        "## Checks",
        "",
        *_checks(report),
        "",
        "## Unresolved findings",
        "",
        *_findings(report),
        "",
        "## Latest evidence",
        "",
        *_evidence(report),
        "",
        "## Workers and queue",
        "",
        *_workers_and_queue(report),
    ]
    return "\n".join(lines) + "\n"
