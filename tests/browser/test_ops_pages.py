"""The ops pages in a real browser: from the home page's count to the summary, a finding
acknowledged from the summary (a refused form shown again, open, with what is wrong),
its timeline, the same pages in Persian, the evidence list filtered in place, and the
backups page."""

from __future__ import annotations

import uuid

from playwright.sync_api import Page, expect
from sqlalchemy import update

from darvaza.assembly import CHECKS
from darvaza.billing.models import Payment
from darvaza.clock import utcnow
from darvaza.operations.service import (
    Drill,
    Run,
    create_backup,
    new_identity,
    record_evidence,
)
from darvaza.ops.service import run_checks
from darvaza.security.roles import PlatformRole
from tests.browser.site import Site
from tests.browser.tour import paid_payment
from tests.support.jobs import parts as make_parts
from tests.support.settings import make_settings
from tests.support.world import SYSTEM

MISMATCH = "A payment's verification disagreed with our record"


def _mismatched_payment(site: Site) -> None:
    tenant = site.tenant(site.person())
    site.plan(tenant)
    payment_id = paid_payment(site, tenant, site.person())
    with site.db.transaction() as session:
        session.execute(
            update(Payment).where(Payment.id == uuid.UUID(payment_id)).values(state="mismatch")
        )
    run_checks(make_parts(site.db), [check for check in CHECKS if check.code.startswith("pay")])


def test_a_platform_admin_acknowledges_a_finding_from_the_summary(site: Site, page: Page) -> None:
    _mismatched_payment(site)
    site.sign_in(page, site.person(PlatformRole.PLATFORM_ADMIN))
    site.language(page, "en")
    page.goto(site.url + "/console/")
    page.get_by_role("link", name="1 open critical findings").click()
    expect(page.locator("h1")).to_have_text("Ops summary")
    expect(page.locator("#ops-status")).to_contain_text("Critical.")
    finding = page.locator("li.finding", has_text=MISMATCH)
    expect(finding).to_contain_text("payments.mismatch")
    expect(finding).to_contain_text("Open")
    # The first steps come from the playbook.
    finding.locator("summary", has_text="First steps").click()
    expect(finding.locator("ol li").first).to_be_visible()
    # A reason of spaces (the browser's own checks let it through): the summary again,
    # this finding's form open, the problem by its field.
    finding.locator("summary", has_text="Acknowledge").click()
    finding.locator("#field-reason").fill("     ")
    finding.locator("#field-hours").fill("3")
    finding.get_by_role("button", name="Acknowledge").click()
    finding = page.locator("li.finding", has_text=MISMATCH)
    expect(finding.locator("#error-reason")).to_be_visible()
    expect(finding.locator("#field-hours")).to_have_value("3")  # what was typed stays
    finding.locator("#field-reason").fill("the gateway's support is on it")
    finding.get_by_role("button", name="Acknowledge").click()
    expect(page).to_have_url(site.url + "/console/admin/ops")
    finding = page.locator("li.finding", has_text=MISMATCH)
    expect(finding.locator(".state-acknowledged")).to_have_text("Acknowledged")
    expect(finding).to_contain_text("the gateway's support is on it")
    # The finding's own page: its timeline, newest first.
    finding.get_by_role("link", name=MISMATCH).click()
    expect(page.locator(".timeline li").first).to_contain_text("Acknowledged")
    expect(page.locator(".timeline li").last).to_contain_text("Opened")
    # In Persian: the words, the title and the severity in Persian.
    site.language(page, "fa")
    expect(page.locator("h1")).to_contain_text("تأیید یک پرداخت با ثبت ما هم‌خوان نبود")
    expect(page.locator("h1 .state")).to_have_text("بحرانی")
    page.locator("#navigation").get_by_role("link", name="خلاصهٔ عملیات").click()
    expect(page.locator("h1")).to_have_text("خلاصهٔ عملیات")


def test_an_auditor_reads_the_summary_and_filters_the_evidence(site: Site, page: Page) -> None:
    _mismatched_payment(site)
    for name, result in (("auth-session", "passed"), ("mock-payment", "failed")):
        record_evidence(
            site.db, make_settings(), SYSTEM, Run(kind="smoke", name=name, result=result)
        )
    site.sign_in(page, site.person(PlatformRole.AUDITOR))
    site.language(page, "en")
    page.goto(site.url + "/console/admin/ops")
    # An auditor reads; nothing offers to change anything.
    expect(page.locator("li.finding", has_text=MISMATCH)).to_be_visible()
    expect(page.get_by_role("button", name="Acknowledge")).to_have_count(0)
    expect(page.locator("table tbody tr", has_text="payments.mismatch")).to_contain_text("Fresh")
    expect(page.locator("table tbody tr", has_text="audit.chain_broken")).to_contain_text("Stale")
    page.locator("#navigation").get_by_role("link", name="Evidence").click()
    expect(page.locator("#evidence-list tbody tr")).to_have_count(2)
    page.evaluate("window.notReloaded = true")
    page.locator("#filter-result").select_option("failed")
    page.get_by_role("button", name="Show").click()
    expect(page.locator("#evidence-list tbody tr")).to_have_count(1)
    expect(page.locator("#evidence-list tbody tr")).to_contain_text("mock-payment")
    assert page.evaluate("window.notReloaded === true")  # swapped in place


def test_an_auditor_reads_the_restore_points_and_drills_in_english_and_persian(
    site: Site, page: Page
) -> None:
    settings = site.settings()
    older = create_backup(site.db, settings, folder=site.backup_dir, label="before-release")
    sealed = settings.model_copy(update={"backup_age_recipients": new_identity()[1]})
    newest = create_backup(site.db, sealed, folder=site.backup_dir)
    record_evidence(site.db, settings, SYSTEM,
                    Run("backup_verify", "deep", "failed", {"point": older.id}))  # fmt: skip
    drill = Drill(point=newest.id, rto_seconds=42.25, rpo_seconds=90,
                  steps=[{"step": "smoke all", "seconds": 30.5}])  # fmt: skip
    record_evidence(site.db, settings, SYSTEM, drill.run(started_at=utcnow()))
    site.sign_in(page, site.person(PlatformRole.AUDITOR))
    site.language(page, "en")
    page.goto(site.url + "/console/")
    page.locator("#navigation").get_by_role("link", name="Backups").click()
    expect(page.locator("h1")).to_have_text("Backups")
    rows = page.locator("#restore-points tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_contain_text(newest.id)
    expect(rows.nth(0).locator("td").nth(7)).to_contain_text("Passed")  # drilled
    expect(rows.nth(0).locator("td").nth(6)).to_contain_text("Not yet")  # not verified
    expect(rows.nth(1)).to_contain_text("before-release")
    expect(rows.nth(0).locator("td").nth(3)).to_contain_text("compressed · encrypted")
    expect(rows.nth(1).locator("td").nth(3)).not_to_contain_text("encrypted")
    expect(rows.nth(1).locator("td").nth(6)).to_contain_text("Failed")
    policy = page.locator("#backup-policy")
    # The tests turn the worker's backup and drill off.
    expect(policy).to_contain_text("Off (DARVAZA_BACKUP_SCHEDULE is empty).")
    expect(policy).to_contain_text("the last 7 days and 4 weeks")
    expect(policy.locator("#backup-sealing")).to_contain_text(
        "Compressed with zstd. Not encrypted: anyone who can read the backup folder"
    )
    drills = page.locator("#restore-drills tbody tr")
    expect(drills).to_have_count(1)
    expect(drills).to_contain_text("42.2 s")
    drills.locator("summary").click()
    expect(drills.locator("ol li")).to_have_text("smoke all: 30.5 s")
    # Nothing on the page makes or restores one.
    expect(page.locator("main form")).to_have_count(0)

    site.language(page, "fa")
    page.goto(site.url + "/console/admin/backups")
    expect(page.locator("h1")).to_have_text("پشتیبان‌ها")
    expect(page.locator("#restore-drills tbody tr")).to_contain_text("۴۲٫۲ ثانیه")
    expect(page.locator("#restore-points tbody tr").nth(1)).to_contain_text("ناموفق")
