"""The platform's own upkeep: which jobs exist, how long each may run, when each runs, and
the worker that runs them (its settings, or on a thread of the API process).

Every handler is a thin call into its domain's service, idempotent and safe to run twice
at once (the services lock what they change and skip what another run holds).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from darvaza.audit.checkpoints import AuditKeys, CheckpointFolder
from darvaza.audit.sealer import run_sealer
from darvaza.audit.service import Actor, append_event
from darvaza.billing.reconcile import reconcile_stale_payments
from darvaza.billing.subscriptions import expire_due_subscriptions
from darvaza.content.downloads import delete_ended_download_tokens
from darvaza.db import Database
from darvaza.identity.sessions import SessionPolicy, delete_ended_sessions
from darvaza.jobs.queue import enqueue
from darvaza.jobs.registry import JobContext, JobKind, Registry, Services
from darvaza.jobs.schedule import Periodic
from darvaza.jobs.service import prune_finished
from darvaza.jobs.worker import Worker, WorkerConfig
from darvaza.mail import SEND_MAIL, send_queued_mail

if TYPE_CHECKING:
    from darvaza.config import Settings
    from darvaza.ops.metrics import Metrics

# Ended sessions and download tokens are kept this long (they help when someone asks
# "why was I signed out?"), then deleted.
KEEP_ENDED = timedelta(days=7)


def expire_subscriptions(context: JobContext, _payload: dict[str, Any]) -> dict[str, int]:
    return expire_due_subscriptions(context.db)


def reconcile_payments(context: JobContext, _payload: dict[str, Any]) -> dict[str, int]:
    settings = context.services.settings
    return dict(
        reconcile_stale_payments(
            context.db,
            context.services.gateways,
            older_than=timedelta(minutes=settings.payment_reconcile_after_minutes),
            expire_after=timedelta(minutes=settings.payment_expire_after_minutes),
            verify_window=timedelta(minutes=settings.payment_verify_window_minutes),
        )
    )


def cleanup(context: JobContext, _payload: dict[str, Any]) -> dict[str, int]:
    policy = SessionPolicy.from_settings(context.services.settings)
    return {
        "sessions": delete_ended_sessions(context.db, policy, keep=KEEP_ENDED),
        "download_tokens": delete_ended_download_tokens(context.db, keep=KEEP_ENDED),
    }


def seal_audit_log(services: Services, stop: threading.Event) -> None:
    """The audit log's sealer, as a worker loop (`audit/sealer.py`)."""
    settings = services.settings
    run_sealer(
        services.db,
        AuditKeys.from_secret(settings.effective_audit_key),
        CheckpointFolder(Path(settings.audit_checkpoint_dir)),
        stop,
        interval=settings.audit_seal_interval_seconds,
    )


def send_mail(context: JobContext, payload: dict[str, Any]) -> dict[str, str]:
    return send_queued_mail(context.services.settings, payload)


def prune_jobs(context: JobContext, _payload: dict[str, Any]) -> dict[str, int]:
    days = context.services.settings.job_retention_days
    return {"jobs": prune_finished(context.db, older_than=timedelta(days=days))}


UPKEEP_KINDS = (
    JobKind("payments.reconcile", reconcile_payments, timeout=timedelta(minutes=5)),
    JobKind("subscriptions.expire", expire_subscriptions, timeout=timedelta(minutes=10)),
    JobKind("cleanup", cleanup, timeout=timedelta(minutes=10)),
    JobKind("jobs.prune", prune_jobs, timeout=timedelta(minutes=10)),
)
# Jobs that changes enqueue (not the schedule).
EVENT_KINDS = (JobKind(SEND_MAIL, send_mail, timeout=timedelta(minutes=2)),)

SCHEDULE = (
    Periodic("payments.reconcile", every=timedelta(minutes=1)),
    Periodic("subscriptions.expire", every=timedelta(minutes=5)),
    Periodic("cleanup", cron="17 * * * *"),
    Periodic("jobs.prune", cron="30 3 * * *"),
)


def upkeep_registry() -> Registry:
    return Registry((*UPKEEP_KINDS, *EVENT_KINDS))


def enqueue_ops(db: Database, actor: Actor) -> dict[str, int | None]:
    """Enqueue every upkeep job now, once: a kind already queued or running this way adds
    nothing (None)."""
    with db.transaction() as session:
        added = {
            kind.name: enqueue(
                session, kind.name, {}, max_attempts=3, unique_key=f"ops:{kind.name}"
            )
            for kind in UPKEEP_KINDS
        }
        append_event(session, action="jobs.ops_enqueued", actor=actor, data={"jobs": added})
        return added


def config_from_settings(settings: Settings, *, concurrency: int | None = None) -> WorkerConfig:
    return WorkerConfig(
        concurrency=concurrency or settings.worker_concurrency,
        lease=timedelta(seconds=settings.worker_lease_seconds),
        poll_seconds=settings.worker_poll_seconds,
        shutdown_grace_seconds=float(settings.worker_shutdown_grace_seconds),
        schedule=SCHEDULE,
        loops=(seal_audit_log,),
    )


@dataclass(frozen=True)
class WorkerThread:
    worker: Worker
    thread: threading.Thread


def start_worker_thread(
    services: Services, settings: Settings, metrics: Metrics | None = None
) -> WorkerThread:
    """A worker inside a process that does something else (`make run`'s API process, or
    the one watching `serve --workers`): the upkeep jobs on a thread."""
    worker = Worker(services, upkeep_registry(), config_from_settings(settings), metrics=metrics)
    thread = threading.Thread(target=worker.run, name="worker", daemon=True)
    thread.start()
    return WorkerThread(worker, thread)


def stop_worker_thread(running: WorkerThread) -> None:
    running.worker.stop()
    running.thread.join(timeout=running.worker.config.shutdown_grace_seconds + 10)
