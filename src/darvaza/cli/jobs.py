"""`darvaza jobs`: the queue and its workers."""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from darvaza.jobs.models import Job

from darvaza.cli.common import (
    CLI_ACTOR,
    _database,
    _fail,
)

jobs_app = typer.Typer(help="The job queue: list, retry, cancel, enqueue.", no_args_is_help=True)


def _print_job(job: Job) -> None:
    when = f"{job.run_at:%Y-%m-%d %H:%M:%S}"
    typer.echo(
        f"{job.id}  {job.state:<9}  {job.kind:<22}  attempt {job.attempts}/{job.max_attempts}"
        f"  run at {when}"
    )
    if job.last_error and job.state != "succeeded":
        typer.echo(f"      last error: {job.last_error.strip().splitlines()[-1][:200]}")


class JobStateChoice(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    DEAD = "dead"
    CANCELLED = "cancelled"


@jobs_app.command("list")
def jobs_list(
    state: Annotated[JobStateChoice | None, typer.Option(help="Only jobs in this state.")] = None,
    kind: Annotated[str | None, typer.Option(help="Only jobs of this kind.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=200)] = 50,
) -> None:
    """List jobs, newest first."""
    from darvaza.jobs.service import JobFilter, list_jobs

    with _database() as (_, db):
        found = list_jobs(
            db, JobFilter(state=state.value if state else None, kind=kind, limit=limit)
        ).items
    for job in found:
        _print_job(job)
    if not found:
        typer.echo("No jobs.")


JobIdArgument = Annotated[int, typer.Argument(help="The job's id.")]
ReasonOption = Annotated[str | None, typer.Option(help="Why, for the audit log.")]


@jobs_app.command("retry")
def jobs_retry(job_id: JobIdArgument, reason: ReasonOption = None) -> None:
    """Run a dead or cancelled job again now (one more attempt if it had used them all),
    or a job waiting for its retry at once. A running or succeeded job is refused (exit
    1). Audited, with --reason."""
    from darvaza.jobs.service import retry_job
    from darvaza.security.caller import Actor

    with _database() as (_, db):
        _print_job(retry_job(db, Actor.system(CLI_ACTOR), job_id, reason=reason))


@jobs_app.command("cancel")
def jobs_cancel(job_id: JobIdArgument, reason: ReasonOption = None) -> None:
    """Cancel a queued job (audited)."""
    from darvaza.jobs.service import cancel_job
    from darvaza.security.caller import Actor

    with _database() as (_, db):
        _print_job(cancel_job(db, Actor.system(CLI_ACTOR), job_id, reason=reason))


@jobs_app.command("enqueue-ops")
def jobs_enqueue_ops() -> None:
    """Enqueue every upkeep job now, once (a worker runs them)."""
    from darvaza.assembly import WORK
    from darvaza.jobs.service import enqueue_ops
    from darvaza.security.caller import Actor

    with _database() as (_, db):
        added = enqueue_ops(db, Actor.system(CLI_ACTOR), WORK.upkeep)
    for kind, job_id in added.items():
        typer.echo(f"{kind}: " + (f"job {job_id}" if job_id else "already queued or running"))


@jobs_app.command("workers")
def jobs_workers(
    include_stopped: Annotated[bool, typer.Option(help="Show stopped workers too.")] = False,
) -> None:
    """List workers and their heartbeats; exit 1 if one is gone."""

    from darvaza.jobs.service import list_workers

    with _database() as (settings, db):
        views = list_workers(
            db,
            stale_after=settings.worker_stale_after,
            include_stopped=include_stopped,
        )
    for view in views:
        w = view.worker
        typer.echo(
            f"{w.id}  {'GONE' if view.gone else w.state}  last seen {w.last_seen_at:%H:%M:%S}"
            f"  running {w.jobs_running}  done {w.jobs_succeeded}  failed {w.jobs_failed}"
        )
    if not views:
        typer.echo("No workers.")
    if any(view.gone for view in views):
        _fail("A worker is gone: its heartbeat stopped (see docs/runbooks/worker-gone.md).")
