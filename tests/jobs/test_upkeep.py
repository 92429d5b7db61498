"""The upkeep jobs the worker runs beside billing's (which `tests/billing/test_expiry.py` and
`test_reconcile.py` cover): cleaning up ended sessions and download tokens, pruning
finished jobs, and enqueuing them all at once."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlalchemy import select, update

from darvaza.assembly import WORK
from darvaza.audit.models import AuditEvent
from darvaza.clock import utcnow
from darvaza.content.downloads import delete_ended_download_tokens, issue_download_token
from darvaza.content.items import create_item, move_item, store_upload
from darvaza.content.models import DownloadToken
from darvaza.content.storage import LocalStorage
from darvaza.db import Database
from darvaza.identity.models import Credential
from darvaza.identity.sessions import SessionPolicy, delete_ended_sessions, login
from darvaza.jobs.models import Job
from darvaza.jobs.queue import claim, complete, enqueue, fail
from darvaza.jobs.service import enqueue_ops, prune_finished
from darvaza.jobs.worker import WorkerConfig
from tests.billing.support import (
    Shop,
    count_rows,
    open_shop,
)
from tests.support.jobs import wait_for, worker_thread
from tests.support.world import SYSTEM

# -- cleanup ------------------------------------------------------------------------------


def test_cleanup_deletes_only_what_ended_long_ago(db: Database, tmp_path: Path) -> None:
    shop = open_shop(db)
    policy = SessionPolicy(absolute=timedelta(hours=1), idle=timedelta(minutes=30))
    who = shop.customer
    signed_in = {"policy": policy, "ip": "127.0.0.1", "user_agent": None, "throttle": None}
    old = login(db, email=who.email, password=who.password, **signed_in)
    fresh = login(db, email=who.email, password=who.password, **signed_in)
    with db.transaction() as session:
        session.execute(
            update(Credential)
            .where(Credential.id == old.credential.id)
            .values(
                expires_at=utcnow() - timedelta(days=8),
                last_used_at=utcnow() - timedelta(days=8),
            )
        )
    storage = LocalStorage(tmp_path / "store")
    stored = store_upload(storage, [b"hello"], max_bytes=1024, declared_size=None)
    owner_id = _owner_id(db, shop)
    item = create_item(
        db, storage, SYSTEM, tenant_id=shop.tenant.id, title="Doc", description="",
        unlocked_by="any_plan", plan_codes=[], stored=stored, filename="a.txt",
        content_type="text/plain",
    )  # fmt: skip
    move_item(db, SYSTEM, tenant_id=shop.tenant.id, item_id=item.id, move="publish")
    for _ in range(2):
        issue_download_token(
            db, SYSTEM, tenant_id=shop.tenant.id, item_id=item.id, user_id=owner_id,
            ttl=timedelta(minutes=5), max_uses=3, ip=None,
        )  # fmt: skip
    with db.transaction() as session:
        first = session.scalars(select(DownloadToken.id)).first()
        session.execute(
            update(DownloadToken)
            .where(DownloadToken.id == first)
            .values(expires_at=utcnow() - timedelta(days=8))
        )
    keep = timedelta(days=7)
    assert delete_ended_sessions(db, policy, keep=keep) == 1
    assert delete_ended_download_tokens(db, keep=keep) == 1
    assert delete_ended_sessions(db, policy, keep=keep) == 0
    with db.read() as session:
        left = set(session.scalars(select(Credential.id)))
    assert fresh.credential.id in left
    assert old.credential.id not in left
    assert count_rows(db, DownloadToken) == 1


def _owner_id(db: Database, shop: Shop) -> object:
    from darvaza.tenants.models import TenantMembership

    with db.read() as session:
        return session.scalars(
            select(TenantMembership.user_id).where(TenantMembership.tenant_id == shop.tenant.id)
        ).first()


# -- jobs.prune and enqueue-ops ---------------------------------------------------------


def test_prune_deletes_finished_jobs_past_retention_only(db: Database) -> None:
    long_ago = utcnow() - timedelta(days=30)
    with db.transaction() as session:
        ids = [
            enqueue(session, "noop", {"n": n}, max_attempts=1, run_at=long_ago) for n in range(4)
        ]
    claimed = claim(db, "w1", limit=3, now=long_ago)
    assert complete(db, claimed[0], now=long_ago)
    assert fail(db, claimed[1], "boom", now=long_ago) == "dead"
    recent = claim(db, "w2", limit=1)[0]
    assert complete(db, recent)
    assert prune_finished(db, older_than=timedelta(days=14)) == 2
    with db.read() as session:
        states = {job.id: job.state for job in session.scalars(select(Job))}
    assert set(states) == {claimed[2].id, recent.id}
    assert states[claimed[2].id] == "running"
    assert set(ids) >= set(states)


def test_enqueue_ops_adds_each_upkeep_job_once_and_a_worker_runs_them(db: Database) -> None:
    first = enqueue_ops(db, SYSTEM, WORK.upkeep)
    assert set(first) == set(WORK.upkeep)
    assert all(job_id is not None for job_id in first.values())
    assert set(enqueue_ops(db, SYSTEM, WORK.upkeep).values()) == {
        None
    }  # still queued: nothing added
    assert count_rows(db, AuditEvent, AuditEvent.action == "jobs.ops_enqueued") == 2
    config = WorkerConfig(concurrency=2, poll_seconds=0.05)
    with worker_thread(db, WORK.registry, config):
        wait_for(
            lambda: (
                count_rows(db, Job, Job.id.in_(list(first.values())), Job.state == "succeeded")
                == len(first)
            )
        )
