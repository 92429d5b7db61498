"""Pages for a tenant's owners and for platform staff, in a real browser: forms that show
each problem by its field and keep what was typed, Persian digits read as numbers, one
tenant's objects unknown to another, a dead job retried, the audit log, a token shown once."""

from __future__ import annotations

from datetime import timedelta

from playwright.sync_api import Page, expect

from darvaza.clock import utcnow
from darvaza.jobs.queue import claim, enqueue, fail
from darvaza.security.roles import PlatformRole
from tests.browser.site import Site
from tests.browser.tour import paid_payment


def test_an_owner_makes_a_plan_from_a_form_that_shows_what_is_wrong(site: Site, page: Page) -> None:
    owner = site.person()
    tenant = site.tenant(owner)
    site.sign_in(page, owner)
    site.language(page, "en")
    page.goto(f"{site.url}/console/t/{tenant.slug}/manage/plans")
    page.locator("#field-name").fill("Silver")
    page.locator("#field-code").fill("Not A Code")
    page.locator("#field-price_rials").fill("a lot")
    page.locator("#field-period_days").fill("30")
    page.get_by_role("button", name="Create the plan").click()
    expect(page.locator("#error-code")).to_have_text("This is not in the expected form.")
    expect(page.locator("#error-price_rials")).to_have_text("Enter a whole number.")
    expect(page.locator("#field-name")).to_have_value("Silver")  # what was typed stays
    expect(page.locator("#field-price_rials")).to_have_attribute("aria-invalid", "true")
    # In Persian, with Persian digits and separators, as people type them.
    site.language(page, "fa")  # the page again, in Persian: the form starts afresh
    page.locator("#field-name").fill("Silver")
    page.locator("#field-code").fill("Not A Code")
    page.locator("#field-price_rials").fill("۲۵۰٬۰۰۰")
    page.locator("#field-period_days").fill("۳۰")
    page.get_by_role("button", name="طرح را بساز").click()
    # The problem in Persian, by its field; the Persian digits typed are kept as typed.
    expect(page.locator("#error-code")).to_have_text("این به شکل مورد انتظار نیست.")
    expect(page.locator("#field-price_rials")).to_have_value("۲۵۰٬۰۰۰")
    page.locator("#field-code").fill("silver")
    page.get_by_role("button", name="طرح را بساز").click()
    row = page.locator("tbody tr", has_text="Silver")
    expect(row).to_contain_text("۲۵۰٬۰۰۰ ریال")
    expect(row).to_contain_text("۳۰")
    row.get_by_role("button", name="بازنشسته کن").click()
    expect(page.locator("tbody tr", has_text="Silver")).to_contain_text("بازنشسته")


def test_another_tenants_payment_is_the_same_not_found_as_a_missing_one(
    site: Site, page: Page
) -> None:
    mine, theirs = site.person(), site.person()
    my_tenant, their_tenant = site.tenant(mine), site.tenant(theirs)
    site.plan(their_tenant)
    payment_id = paid_payment(site, their_tenant, site.person())
    site.sign_in(page, mine)
    site.language(page, "en")
    page.goto(f"{site.url}/console/t/{my_tenant.slug}/manage/payments/{payment_id}")
    foreign = page.locator("main").inner_text()
    page.goto(
        f"{site.url}/console/t/{my_tenant.slug}/manage/payments/00000000-0000-4000-8000-000000000000"
    )
    assert (
        page.locator("main").inner_text().split("request id")[0] == foreign.split("request id")[0]
    )
    expect(page.locator("h1")).to_have_text("Not found")
    # And their tenant's pages are not mine to see at all.
    page.goto(f"{site.url}/console/t/{their_tenant.slug}/manage/payments/{payment_id}")
    expect(page.locator("h1")).to_have_text("Not allowed")


def test_a_platform_admin_retries_a_dead_job_and_the_audit_log_says_why(
    site: Site, page: Page
) -> None:
    with site.db.transaction() as session:
        job_id = enqueue(session, "test.broken", {"order": "dz-1"}, max_attempts=1)
    (claimed,) = claim(site.db, "w1")
    assert fail(site.db, claimed, "RuntimeError: gateway down") == "dead"
    site.sign_in(page, site.person(PlatformRole.PLATFORM_ADMIN))
    site.language(page, "en")
    with site.db.transaction() as session:
        enqueue(session, "test.later", {}, run_at=utcnow() + timedelta(hours=1))
    # The home page says there is a dead job, and leads to it.
    page.goto(site.url + "/console/")
    page.get_by_role("link", name="1 dead jobs").click()
    expect(page.locator("#jobs-list tbody tr")).to_have_count(1)
    # The filters swap the list in place (htmx, under the content policy): no new page.
    page.evaluate("window.notReloaded = true")
    page.locator("#filter-state").select_option("")
    page.get_by_role("button", name="Show").click()
    expect(page.locator("#jobs-list tbody tr")).to_have_count(2)
    assert page.evaluate("window.notReloaded === true")
    assert page.url == site.url + "/console/admin/jobs?state=&kind="
    page.locator("#filter-state").select_option("dead")
    page.get_by_role("button", name="Show").click()
    expect(page.locator("#jobs-list tbody tr")).to_have_count(1)
    page.get_by_role("link", name=str(job_id), exact=True).click()
    expect(page.locator("main pre.error")).to_contain_text("gateway down")
    page.locator("#field-reason").fill("the gateway is back")
    page.get_by_role("button", name="Run it again now").click()
    expect(page.locator("main .state").first).to_have_text("Queued")
    page.locator("#navigation").get_by_role("link", name="Audit log").click()
    event = page.locator("tbody tr", has_text="job.retried")
    expect(event).to_contain_text("the gateway is back")
    page.get_by_role("link", name="Verify the whole log").click()
    expect(page.locator("h1")).to_have_text("Verifying the audit log")
    expect(page.locator("main [role=status], main [role=alert]").first).to_be_visible()


def test_a_platform_admin_opens_a_tenant_gives_it_an_owner_and_a_gateway(
    site: Site, page: Page
) -> None:
    owner, second = site.person(), site.person()
    site.sign_in(page, site.person(PlatformRole.PLATFORM_ADMIN))
    site.language(page, "en")
    page.goto(site.url + "/console/admin/tenants")
    page.locator("#field-name").fill("Persian Poetry School")
    page.locator("#field-slug").fill("poetry")
    page.locator("#field-owner_email").fill(owner.email)
    page.get_by_role("button", name="Create the tenant").click()
    expect(page).to_have_url(site.url + "/console/admin/tenants/poetry")
    expect(page.locator("main table")).to_contain_text(owner.email)
    page.locator("#owner-email").fill(second.email)
    page.get_by_role("button", name="Make them an owner").click()
    expect(page.locator("main table")).to_contain_text(second.email)
    page.locator("#field-gateway").select_option("zarinpal")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#field-gateway")).to_have_value("zarinpal")
    # The same slug again: the form says so, and keeps what was typed.
    page.goto(site.url + "/console/admin/tenants")
    page.locator("#field-name").fill("Another")
    page.locator("#field-slug").fill("poetry")
    page.locator("#field-owner_email").fill(owner.email)
    page.get_by_role("button", name="Create the tenant").click()
    expect(page.locator("#form-errors")).to_be_visible()
    expect(page.locator("#field-name")).to_have_value("Another")


def test_a_new_staff_token_is_shown_once(site: Site, page: Page) -> None:
    admin = site.person(PlatformRole.PLATFORM_ADMIN)
    site.sign_in(page, admin)
    site.language(page, "en")
    page.goto(site.url + "/console/admin/api-tokens")
    page.locator("#field-email").fill(admin.email)
    page.locator("#field-name").fill("monitoring")
    page.get_by_role("button", name="Create the token").click()
    token = page.locator("#new-token").inner_text()
    assert token.startswith("dzt_")
    expect(page.locator("tbody")).to_contain_text("monitoring")
    page.reload()  # the same page again: the token is not shown a second time
    expect(page.locator("#new-token")).to_have_count(0)
    who = page.request.get(
        site.url + "/api/v1/auth/session", headers={"Authorization": f"Bearer {token}"}
    )
    assert who.status == 200
