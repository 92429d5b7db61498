"""Readiness and exports in a real browser. A platform admin (in English) reads the
verdict and every proof, is refused an exemption past the longest, exempts a proof and
withdraws it; an auditor (in Persian) reads the same page, blockers in Persian, without
the form. An owner (in
English) asks for an export of the tenant's payments, sees it ready once the worker's job
ran, and downloads the CSV; an auditor (in Arabic) asks for the audit log's."""

from __future__ import annotations

import uuid
from pathlib import Path

from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select

from darvaza.exports.models import Export
from darvaza.exports.service import produce_export
from darvaza.readiness.proofs import PROOFS
from darvaza.security.roles import PlatformRole
from tests.browser.site import Site


def test_read_the_verdict_exempt_a_proof_and_withdraw_it(
    site: Site, page: Page, browser: Browser
) -> None:
    admin = site.person(PlatformRole.PLATFORM_ADMIN)
    site.sign_in(page, admin)
    site.language(page, "en")
    page.goto(site.url + "/console/admin/readiness")
    expect(page.locator("h1")).to_have_text("Readiness")
    expect(page.locator("#readiness-verdict")).to_contain_text("Not ready.")
    expect(page.locator("#proofs tbody tr")).to_have_count(len(PROOFS))
    drill = page.locator("#proof-restore_drill")
    expect(drill).to_contain_text("Missing")
    expect(drill).to_contain_text("darvaza drill restore")
    expect(drill).to_contain_text("No restore_drill/restore evidence on record.")

    form = page.locator("#exempt-form")
    form.locator("#field-proof").select_option("staging_smoke")
    form.locator("#field-reason").fill("Staging is being rebuilt this week")
    form.locator("#field-days").fill("40")
    # The browser would stop 40 days itself (max=14): send what a careless script would.
    form.locator("#field-days").evaluate("input => input.removeAttribute('max')")
    form.get_by_role("button", name="Exempt").click()
    expect(page.locator("#form-errors")).to_contain_text("14")
    form = page.locator("#exempt-form")
    form.locator("#field-proof").select_option("staging_smoke")
    form.locator("#field-reason").fill("Staging is being rebuilt this week")
    form.locator("#field-days").fill("3")
    form.get_by_role("button", name="Exempt").click()
    expect(page.locator("#proof-staging_smoke")).to_contain_text("Exempt")
    expect(page.locator("#proof-staging_smoke")).to_contain_text("Staging is being rebuilt")
    row = page.locator("#exemptions tbody tr").first
    expect(row).to_contain_text("Active")
    # The production claim is never offered.
    expect(page.locator("#field-proof option[value=production_claim]")).to_have_count(0)

    row.locator("input[name=reason]").fill("Staging is back")
    row.get_by_role("button", name="Withdraw").click()
    expect(page.locator("#exemptions tbody tr").first).to_contain_text("Withdrawn")
    expect(page.locator("#proof-staging_smoke")).to_contain_text("Missing")

    auditor = site.person(PlatformRole.AUDITOR)
    other = browser.new_context(locale="fa-IR")
    reader = other.new_page()
    try:
        site.sign_in(reader, auditor)
        site.language(reader, "fa")
        reader.goto(site.url + "/console/admin/readiness")
        expect(reader.locator("h1")).to_have_text("آمادگی")
        expect(reader.locator("#readiness-verdict")).to_contain_text("آماده نیست")
        # What blocks each proof is said in Persian too; only commands and names stay.
        expect(reader.locator("#proof-restore_drill")).to_contain_text(
            "هیچ شاهدی از restore_drill/restore ثبت نشده است."
        )
        expect(reader.locator("#proof-production_claim")).to_contain_text("پشتیبان ناموجود است.")
        expect(reader.locator("#proofs")).not_to_contain_text("evidence on record")
        expect(reader.locator("#exempt-form")).to_have_count(0)
        expect(reader.locator("#exemptions button")).to_have_count(0)
    finally:
        other.close()


def _run_export(site: Site) -> None:
    with site.db.read() as session:
        waiting = session.scalars(select(Export.id).where(Export.state == "queued")).all()
    for export_id in waiting:
        assert produce_export(site.db, site.settings(), uuid.UUID(str(export_id))) == "ready"


def test_ask_for_an_export_and_download_it(site: Site, page: Page, browser: Browser) -> None:
    owner = site.person()
    tenant = site.tenant(owner, name="Acme Exports")
    site.sign_in(page, owner)
    site.language(page, "en")
    page.goto(f"{site.url}/console/t/{tenant.slug}/manage/exports")
    form = page.locator("#tenant-export-form")
    form.locator("#field-dataset").select_option("payments")
    form.get_by_role("button", name="Ask for the export").click()
    expect(page).to_have_url(site.url + "/console/exports")
    expect(page.locator("#exports tbody tr").first).to_contain_text("Queued")
    _run_export(site)
    page.reload()
    row = page.locator("#exports tbody tr").first
    expect(row).to_contain_text("Ready")
    with page.expect_download() as waiting:
        row.get_by_role("button", name="Download").click()
    saved = Path(waiting.value.path())
    assert saved.read_text(encoding="utf-8").startswith("payment_id,order_id,created_at")
    assert waiting.value.suggested_filename.startswith("payments-")

    auditor = site.person(PlatformRole.AUDITOR)
    other = browser.new_context(locale="ar")
    reader = other.new_page()
    try:
        site.sign_in(reader, auditor)
        site.language(reader, "ar")
        reader.goto(site.url + "/console/exports")
        expect(reader.locator("h1")).to_have_text("تصديراتي")
        reader.locator("#audit-export-form button[type=submit]").click()
        expect(reader.locator("#exports tbody tr").first).to_contain_text("سجل التدقيق")
    finally:
        other.close()
