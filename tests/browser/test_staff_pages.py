"""Pages for a tenant's owners and for platform staff, in a real browser: forms that show
each problem by its field and keep what was typed, Persian digits read as numbers, one
tenant's objects unknown to another, a dead job retried, the audit log, a token shown once."""

from __future__ import annotations

from playwright.sync_api import Page, expect

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
    page.locator("#field-code").fill("silver")
    page.locator("#field-price_rials").fill("۲۵۰٬۰۰۰")
    page.locator("#field-period_days").fill("۳۰")
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
    # The home page says there is a dead job, and leads to it.
    page.goto(site.url + "/console/")
    page.get_by_role("link", name="1 dead jobs").click()
    page.get_by_role("link", name=str(job_id), exact=True).click()
    expect(page.locator("main pre.error")).to_contain_text("gateway down")
    page.locator("#field-reason").fill("the gateway is back")
    page.get_by_role("button", name="Run it again now").click()
    expect(page.locator("main .state").first).to_have_text("Queued")
    page.locator("#navigation").get_by_role("link", name="Audit log").click()
    event = page.locator("tbody tr", has_text="job.retried")
    expect(event).to_contain_text("the gateway is back")


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
