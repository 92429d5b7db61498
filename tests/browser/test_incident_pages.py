"""Incidents' pages in a real browser: a platform admin (in English) declares an incident,
is refused times out of order, posts a public update and a note, mitigates, resolves and
reviews it; a support admin (in Arabic) writes a note but has no status controls; the
public status page (in Persian, signed out) shows the public update and never the note or
the tenant."""

from __future__ import annotations

from playwright.sync_api import Browser, Page, expect

from darvaza.security.roles import PlatformRole
from tests.browser.site import Site

NOTE = "Acme's gateway key was rotated by their staff"
PUBLIC = "Payments are failing for some customers; we are on it."


def test_declare_update_resolve_and_review_an_incident_then_the_status_page(
    site: Site, page: Page, browser: Browser
) -> None:
    admin = site.person(PlatformRole.PLATFORM_ADMIN)
    support = site.person(PlatformRole.SUPPORT_ADMIN)
    tenant = site.tenant(site.person(), slug="acme-incident", name="Acme Incident Co")
    site.sign_in(page, admin)
    site.language(page, "en")
    page.goto(site.url + "/console/admin/incidents")
    expect(page.locator("h1")).to_have_text("Incidents")

    # Impact that began after it was noticed: the form again, saying why.
    form = page.locator("#declare")
    form.locator("#field-title").fill("Payments fail at the gateway")
    form.locator("#field-severity").select_option("SEV2")
    form.locator("input[name=components][value=payments]").check()
    form.locator("#field-tenants").fill(tenant.slug)
    form.locator("#field-started_minutes_ago").fill("5")
    form.locator("#field-detected_minutes_ago").fill("10")
    form.get_by_role("button", name="Declare").click()
    expect(page.locator("#form-errors")).to_contain_text("started_at")
    form = page.locator("#declare")
    expect(form.locator("#field-title")).to_have_value("Payments fail at the gateway")
    form.locator("#field-severity").select_option("SEV2")
    form.locator("input[name=components][value=payments]").check()
    form.locator("#field-started_minutes_ago").fill("30")
    form.locator("#field-detected_minutes_ago").fill("10")
    form.get_by_role("button", name="Declare").click()
    expect(page.locator("h1")).to_contain_text("Payments fail at the gateway")
    expect(page.locator("#incident-status")).to_have_text("Open")
    expect(page.locator("#people")).to_contain_text(admin.email)
    expect(page.locator("#people")).to_contain_text(tenant.slug)
    expect(page.locator("#next-update")).to_contain_text("Next status update due")
    incident_url = page.url

    page.locator("#update #field-body").fill(PUBLIC)
    page.locator("#update input[name=public]").check()
    page.locator("#update button[type=submit]").click()
    expect(page.locator("#updates li").first).to_contain_text(PUBLIC)
    expect(page.locator("#updates li").first).to_contain_text("Public")
    page.locator("#note #field-body").fill(NOTE)
    page.locator("#note button[type=submit]").click()
    expect(page.locator("#story")).to_contain_text(NOTE)

    # The support admin, in Arabic: a note, but no status controls.
    desk = browser.new_context(locale="ar").new_page()
    site.sign_in(desk, support)
    site.language(desk, "ar")
    desk.goto(incident_url)
    expect(desk.locator("html")).to_have_attribute("dir", "rtl")
    expect(desk.locator("#move")).to_have_count(0)
    expect(desk.locator("#update")).to_have_count(0)
    desk.locator("#note #field-body").fill("Support: three tickets about this")
    desk.locator("#note button[type=submit]").click()
    expect(desk.locator("#story")).to_contain_text("Support: three tickets about this")

    # Mitigated, resolved, then the review: incomplete first, then whole.
    page.reload()
    for status, shown in (("mitigated", "Mitigated"), ("resolved", "Resolved")):
        page.locator("#move #field-status").select_option(status)
        page.locator("#move button[type=submit]").click()
        expect(page.locator("#incident-status")).to_have_text(shown)
    review = page.locator("#write-review")
    review.locator("#field-summary").fill("The gateway key changed under us")
    review.locator("button[type=submit]").click()
    expect(page.locator("#write-review #error-impact_notes")).to_be_visible()
    review = page.locator("#write-review")
    for name, text in (
        ("summary", "The gateway key changed under us"),
        ("impact_notes", "About an hour of failed checkouts"),
        ("timeline_summary", "Alert, declared, key restored"),
        ("root_causes", "The key lives in one place"),
        ("went_well", "The alert fired at once"),
        ("went_badly", "Nobody knew who held the key"),
        ("action_items", f"Keep the key in two places | {admin.email} | 2099-01-31"),
    ):
        review.locator(f"#field-{name}").fill(text)
    review.locator("button[type=submit]").click()
    expect(page.locator("#incident-status")).to_have_text("Reviewed")
    expect(page.locator("#review")).to_contain_text("The key lives in one place")
    expect(page.locator("#action-items li")).to_contain_text("Keep the key in two places")

    # The public status page, signed out, in Persian: the public update, nothing else.
    public = browser.new_context(locale="fa-IR").new_page()
    public.goto(site.url + "/status")
    expect(public.locator("html")).to_have_attribute("lang", "fa")
    expect(public.locator("h1")).to_have_text("وضعیت سکو")
    expect(public.locator("#overall")).to_have_text("همهٔ سامانه‌ها کار می‌کنند.")
    expect(public.locator("#recent")).to_contain_text(PUBLIC)
    body = public.locator("body")
    for secret in (NOTE, "Support: three tickets", tenant.slug, tenant.name, admin.email):
        expect(body).not_to_contain_text(secret)
