"""The composition root's assembly: the parts a process runs on, and the worker's work,
collected from every domain. Only this module (with `app.py` and `cli/`) knows them all.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import timedelta

import httpx

from darvaza import mail
from darvaza.audit import checks as audit_checks
from darvaza.audit import pages as audit_pages
from darvaza.audit import tasks as audit_tasks
from darvaza.billing import checks as billing_checks
from darvaza.billing import pages as billing_pages
from darvaza.billing import tasks as billing_tasks
from darvaza.billing.gateways import GatewayRegistry
from darvaza.checks import CheckSet
from darvaza.config import Settings
from darvaza.console import routes as console_routes
from darvaza.console.nav import Navigation
from darvaza.content import checks as content_checks
from darvaza.content import pages as content_pages
from darvaza.content import tasks as content_tasks
from darvaza.content.service import LocalStorage, Storage
from darvaza.db import Database
from darvaza.exports import pages as exports_pages
from darvaza.exports import tasks as exports_tasks
from darvaza.identity import checks as identity_checks
from darvaza.identity import pages as identity_pages
from darvaza.identity import tasks as identity_tasks
from darvaza.identity.service import LoginThrottle, MailedTokens, SessionPolicy
from darvaza.incidents import checks as incidents_checks
from darvaza.incidents import pages as incidents_pages
from darvaza.incidents import tasks as incidents_tasks
from darvaza.jobs import checks as jobs_checks
from darvaza.jobs import pages as jobs_pages
from darvaza.jobs import tasks as jobs_tasks
from darvaza.jobs.registry import Tasks, Work
from darvaza.jobs.worker import Worker, WorkerConfig
from darvaza.metrics import Metrics
from darvaza.operations import checks as operations_checks
from darvaza.operations import pages as operations_pages
from darvaza.operations import tasks as operations_tasks
from darvaza.ops import checks as ops_checks
from darvaza.ops import pages as ops_pages
from darvaza.ops import tasks as ops_tasks
from darvaza.ops.alert_routes import load_alert_routes
from darvaza.parts import Parts
from darvaza.readiness import checks as readiness_checks
from darvaza.readiness import pages as readiness_pages
from darvaza.security.policy import Gatekeeper
from darvaza.security.ratelimit import RateLimiter, RateRules, Rates
from darvaza.support import checks as support_checks
from darvaza.support import pages as support_pages
from darvaza.support import tasks as support_tasks
from darvaza.support.service import GrantingGatekeeper
from darvaza.tenants import pages as tenants_pages

# Every domain's work. A new domain adds its `tasks.TASKS` here.
WORK = Work.collect(
    (
        billing_tasks.TASKS,
        identity_tasks.TASKS,
        content_tasks.TASKS,
        jobs_tasks.TASKS,
        mail.TASKS,
        ops_tasks.TASKS,
        operations_tasks.TASKS,
        support_tasks.TASKS,
        incidents_tasks.TASKS,
        exports_tasks.TASKS,
        Tasks(loops=audit_tasks.LOOPS),
    )
)

# Every domain's ops checks. A new domain adds its `checks.CHECKS` here.
CHECKS = CheckSet(
    check
    for module in (
        billing_checks, jobs_checks, audit_checks, identity_checks, content_checks, mail,
        ops_checks, operations_checks, support_checks, incidents_checks, readiness_checks,
    )
    for check in module.CHECKS
)  # fmt: skip

# Every domain's console pages: their routers, and the navigation entries they declare.
PAGE_MODULES = (
    identity_pages, tenants_pages, billing_pages, content_pages, jobs_pages, audit_pages,
    ops_pages, operations_pages, support_pages, incidents_pages, readiness_pages,
    exports_pages,
)  # fmt: skip
PAGE_ROUTERS = (console_routes.router, *(module.router for module in PAGE_MODULES))
NAVIGATION = Navigation(entry for module in PAGE_MODULES for entry in getattr(module, "NAV", ()))


def assemble(
    settings: Settings,
    db: Database,
    *,
    metrics: Metrics | None = None,
    transport: httpx.BaseTransport | None = None,
) -> Parts:
    """The parts of one process. `transport` reaches the gateways (tests pass a fake).
    Raises `AlertRoutesError` when the alert routes file cannot be used."""
    limiter = RateLimiter.from_settings(settings)
    rules = RateRules.from_settings(settings)
    sessions = SessionPolicy.from_settings(settings)
    parts = Parts(
        settings,
        db,
        metrics or Metrics(),
        limiter,
        rules,
        Rates(limiter, rules),
        sessions,
        LoginThrottle(limiter, rules),
        MailedTokens.from_settings(settings),
        GatewayRegistry(settings, db, transport=transport),
        WORK,
        CHECKS,
        NAVIGATION,
    )
    parts.add(LocalStorage(settings.storage_dir), as_type=Storage)
    # A routes file that cannot be used refuses the start (AlertRoutesError names the line).
    parts.add(load_alert_routes(settings))
    parts.add(GrantingGatekeeper(db, sessions), as_type=Gatekeeper)
    return parts


def worker_config(settings: Settings, *, concurrency: int | None = None) -> WorkerConfig:
    return WorkerConfig(
        concurrency=concurrency or settings.worker_concurrency,
        lease=timedelta(seconds=settings.worker_lease_seconds),
        poll_seconds=settings.worker_poll_seconds,
        shutdown_grace_seconds=float(settings.worker_shutdown_grace_seconds),
        schedule=WORK.schedule_for(settings),
        loops=WORK.loops,
    )


@dataclass(frozen=True)
class WorkerThread:
    worker: Worker
    thread: threading.Thread


def start_worker_thread(parts: Parts) -> WorkerThread:
    """A worker inside a process that does something else (`make run`'s API process, or
    the one watching `serve --workers`): the upkeep jobs on a thread."""
    worker = Worker(parts, WORK.registry, worker_config(parts.settings), metrics=parts.get(Metrics))
    thread = threading.Thread(target=worker.run, name="worker", daemon=True)
    thread.start()
    return WorkerThread(worker, thread)


def stop_worker_thread(running: WorkerThread) -> None:
    running.worker.stop()
    running.thread.join(timeout=running.worker.config.shutdown_grace_seconds + 10)
