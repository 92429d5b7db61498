"""No ops check reads a whole big table: every statement a check runs is planned by
PostgreSQL with an index (EXPLAIN, sequential scans priced out, so any usable index is
taken and a missing one shows as a Seq Scan)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import event, text

from darvaza.assembly import CHECKS
from darvaza.db import Database
from tests.conftest import BACKENDS
from tests.support.checks import run
from tests.support.jobs import parts as make_parts

pytestmark = pytest.mark.parametrize("backend", [BACKENDS[1]], indirect=True)

# The tables that grow with the platform's traffic.
BIG = {
    "payments", "payment_events", "subscriptions", "jobs", "audit_events", "audit_seals",
    "content_items", "download_log", "ops_findings", "ops_finding_events",
    "alert_notifications", "evidence",
}  # fmt: skip
# The chain check walks the whole log by design (every seal, in order, by its key) once a
# day and after a break; its other runs walk only what was sealed since (by `seq`).
READS_EVERYTHING = {"audit.chain_broken"}


def _plan_nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from _plan_nodes(child)


def _statements(db: Database, code: str) -> list[tuple[str, Any]]:
    captured: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            captured.append((statement, parameters))

    event.listen(db.engine, "before_cursor_execute", capture)
    try:
        run(make_parts(db), code)
    finally:
        event.remove(db.engine, "before_cursor_execute", capture)
    return captured


def test_every_check_reads_big_tables_through_an_index(db: Database) -> None:
    scanned: list[str] = []
    explained = 0
    for check in CHECKS:
        if check.code in READS_EVERYTHING:
            continue
        for statement, parameters in _statements(db, check.code):
            with db.engine.connect() as connection:
                raw = connection.connection.dbapi_connection
                assert raw is not None
                with raw.cursor() as cursor:
                    cursor.execute("SET enable_seqscan = off")
                    cursor.execute("EXPLAIN (FORMAT JSON) " + statement, parameters)
                    (plan,) = cursor.fetchone()
                    explained += 1
                connection.rollback()
            for node in _plan_nodes(plan[0]["Plan"]):
                table = node.get("Relation Name")
                if node["Node Type"] == "Seq Scan" and table in BIG:
                    scanned.append(f"{check.code}: Seq Scan on {table}: {_short(statement)}")
    assert explained > 20  # every check ran its statements
    assert scanned == []


def _short(statement: str) -> str:
    return re.sub(r"\s+", " ", statement)[:200]


def test_the_capture_sees_the_checks_statements(db: Database) -> None:
    """The test above would pass on nothing: it must see the queries it plans."""
    statements = [s for s, _ in _statements(db, "payments.stale_pending")]
    assert any("FROM payments" in s for s in statements)
    with db.engine.connect() as connection:
        plan = connection.execute(
            text("EXPLAIN (FORMAT JSON) SELECT count(*) FROM payments WHERE amount_rials > 5")
        ).scalar_one()
    kinds = {node["Node Type"] for node in _plan_nodes(json.loads(json.dumps(plan))[0]["Plan"])}
    assert "Seq Scan" in kinds  # an unindexed filter is caught as what it is
