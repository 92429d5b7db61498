"""The ops console pages over HTTP: the summary and a finding for every kind of platform
staff, the acknowledgement form for platform admins only (404 unknown, 409 resolved, 422
out of range, each the page again saying so), and the evidence list with its filters."""

from __future__ import annotations

import re
import uuid

from sqlalchemy import select, update

from darvaza.audit.models import AuditEvent
from darvaza.billing.models import Payment
from darvaza.checks import SEVERITIES
from darvaza.console.labels import LABELS
from darvaza.operations.service import EVIDENCE_RESULTS, Run, record_evidence
from darvaza.ops.models import FINDING, OpsFinding
from darvaza.security.roles import PlatformRole
from tests.billing.support import open_shop
from tests.support.checks import findings, run
from tests.support.jobs import parts as make_parts
from tests.support.settings import make_settings
from tests.support.world import SYSTEM, Api, person

SUMMARY = "/console/admin/ops"


def _mismatch(api: Api) -> OpsFinding:
    order_id = open_shop(api.db).checkout().order_id
    with api.db.transaction() as session:
        session.execute(
            update(Payment).where(Payment.order_id == order_id).values(state="mismatch")
        )
    parts = make_parts(api.db)
    run(parts, "payments.mismatch")
    return next(iter(findings(api.db, "payments.mismatch").values()))


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_platform_staff_read_the_summary_and_a_finding(api: Api) -> None:
    finding = _mismatch(api)
    for role in (PlatformRole.AUDITOR, PlatformRole.SUPPORT_ADMIN, PlatformRole.PLATFORM_ADMIN):
        token = api.login(person(api.db, role))
        page = api.call("GET", SUMMARY, token)
        assert page.status_code == 200, page.text
        text = _text(page.text)
        assert "Critical. A critical finding is open" in text
        assert "A payment's verification disagreed with our record" in page.text.replace(
            "&#39;", "'"
        )
        assert f"/console/admin/ops/findings/{finding.id}" in page.text
        assert "docs/playbooks/payments.mismatch.md" in page.text
        # Every check has a row; the ones never run say so.
        assert "payments.stale_pending" in page.text
        assert "never" in text
        # Only a platform admin is offered the acknowledgement.
        offered = f"/console/admin/ops/findings/{finding.id}/acknowledge" in page.text
        assert offered == (role == PlatformRole.PLATFORM_ADMIN), role
        one = api.call("GET", f"/console/admin/ops/findings/{finding.id}", token)
        assert one.status_code == 200
        assert "First seen" in one.text
        assert finding.fingerprint in one.text
        assert "## How to fix" in one.text  # the whole playbook
    customer = api.login(person(api.db))
    assert api.call("GET", SUMMARY, customer).status_code == 403
    assert api.call("GET", f"/console/admin/ops/findings/{finding.id}", customer).status_code == 403
    assert api.call("GET", SUMMARY).status_code == 303  # to the sign-in page


def test_a_platform_admin_acknowledges_from_the_form(api: Api) -> None:
    finding = _mismatch(api)
    admin = person(api.db, PlatformRole.PLATFORM_ADMIN)
    token = api.login(admin)
    action = f"/console/admin/ops/findings/{finding.id}/acknowledge"

    too_long = api.call("POST", action, token, data={"reason": "on it", "hours": "100000"})
    assert too_long.status_code == 422
    assert 'id="error-hours"' in too_long.text
    past_limit = api.call("POST", action, token, data={"reason": "on it", "hours": str(24 * 60)})
    assert past_limit.status_code == 422  # past the setting (7 days), within the form's bound
    assert 'role="alert"' in past_limit.text
    short = api.call("POST", action + "?back=summary", token, data={"reason": "x", "hours": "2"})
    assert short.status_code == 422
    assert "Ops summary" in short.text  # the summary again, its form open
    assert 'id="error-reason"' in short.text

    done = api.call(
        "POST", action + "?back=summary", token,
        data={"reason": "gateway support ticket 4411", "hours": "۶"},  # Persian digits
    )  # fmt: skip
    assert done.status_code == 303
    assert done.headers["location"] == SUMMARY
    with api.db.read() as session:
        stored = session.get(OpsFinding, finding.id)
        assert stored is not None
        assert (stored.state, stored.acknowledged_by) == ("acknowledged", admin.email)
        assert stored.acknowledged_reason == "gateway support ticket 4411"
        audited = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "ops.finding_acknowledged")
        ).all()
    assert len(audited) == 1
    assert stored.acknowledged_until is not None
    assert stored.acknowledged_at is not None
    hours = (stored.acknowledged_until - stored.acknowledged_at).total_seconds() / 3600
    assert round(hours) == 6
    shown = api.call("GET", f"/console/admin/ops/findings/{finding.id}", token)
    assert "Acknowledged by " + admin.email in _text(shown.text)
    assert "gateway support ticket 4411" in shown.text

    unknown = api.call(
        "POST", f"/console/admin/ops/findings/{uuid.uuid4()}/acknowledge", token,
        data={"reason": "on it", "hours": "2"},
    )  # fmt: skip
    assert unknown.status_code == 404
    with api.db.transaction() as session:
        session.execute(
            update(OpsFinding).where(OpsFinding.id == finding.id).values(state="resolved")
        )
    resolved = api.call("POST", action, token, data={"reason": "on it", "hours": "2"})
    assert resolved.status_code == 409
    assert 'role="alert"' in resolved.text
    auditor = api.login(person(api.db, PlatformRole.AUDITOR))
    refused = api.call("POST", action, auditor, data={"reason": "on it", "hours": "2"})
    assert refused.status_code == 403


def test_the_evidence_page_lists_and_filters(api: Api) -> None:
    settings = make_settings(instance_name="staging-1")
    for kind, name, result in (
        ("smoke", "auth-session", "passed"),
        ("gate", "lint", "failed"),
        ("smoke", "mock-payment", "inconclusive"),
    ):
        record_evidence(
            api.db, settings, SYSTEM,
            Run(kind=kind, name=name, result=result, details={"note": f"{name} details"}),
        )  # fmt: skip
    token = api.login(person(api.db, PlatformRole.AUDITOR))
    everything = api.call("GET", "/console/admin/evidence", token)
    assert everything.status_code == 200
    assert everything.text.count("<tr>") == 4  # the header and three rows
    assert "local/staging-1" in everything.text
    assert "lint details" in everything.text
    smoke = api.call("GET", "/console/admin/evidence?kind=smoke&result=&name=&instance=", token)
    assert smoke.text.count("<tr>") == 3
    assert "lint details" not in smoke.text
    failed = api.call("GET", "/console/admin/evidence?result=failed", token)
    assert failed.text.count("<tr>") == 2
    other = api.call("GET", "/console/admin/evidence?instance=production", token)
    assert "No evidence matches." in other.text
    assert api.call("GET", "/console/admin/evidence?kind=deploy", token).status_code == 422
    support = api.login(person(api.db, PlatformRole.SUPPORT_ADMIN))
    assert api.call("GET", "/console/admin/evidence", support).status_code == 403


def test_every_word_the_ops_pages_show_for_a_stored_value_has_a_label() -> None:
    event_kinds = ("opened", "acknowledged", "acknowledgement_expired", "reopened", "resolved")
    stored = (*FINDING.states, *SEVERITIES, *EVIDENCE_RESULTS, *event_kinds)
    assert [value for value in stored if value not in LABELS] == []
