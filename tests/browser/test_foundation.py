"""The console's foundation in a real browser: signing in and out, the language and its
direction, navigation by role, and forms that do not come from us."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from darvaza.security.roles import PlatformRole, TenantRole
from darvaza.tenants.service import add_member
from tests.browser.site import Site
from tests.support.world import SYSTEM


def test_sign_in_and_out_returns_to_the_page_asked_for(site: Site, page: Page) -> None:
    who = site.person()
    page.goto(site.url + "/console/me/sessions")
    # Not signed in: sent to sign in, and back to the sessions page afterwards.
    expect(page).to_have_url(site.url + "/console/login?next=/console/me/sessions")
    site.language(page, "en")
    page.locator("#field-email").fill(who.email)
    page.locator("#field-password").fill("not the password")
    page.locator("form.stack button[type=submit]").click()
    expect(page.locator("#form-errors")).to_contain_text("email or password")
    # What was typed stays, except the password.
    expect(page.locator("#field-email")).to_have_value(who.email)
    expect(page.locator("#field-password")).to_have_value("")
    page.locator("#field-password").fill(who.password)
    page.locator("form.stack button[type=submit]").click()
    expect(page).to_have_url(site.url + "/console/me/sessions")
    expect(page.locator("h1")).to_have_text("Your sessions")
    page.locator("form.signout button").click()
    expect(page).to_have_url(site.url + "/console/login")
    page.goto(site.url + "/console/me/sessions")
    expect(page).to_have_url(site.url + "/console/login?next=/console/me/sessions")


def test_persian_is_the_default_right_to_left_with_the_navigation_on_the_right(
    site: Site, page: Page
) -> None:
    site.sign_in(page, site.person())
    page.goto(site.url + "/console/")
    # The browser asks for English (its locale is en-US) ... but the cookie set at sign-in
    # is absent, so Accept-Language decides: switch to Persian, the deployment's default.
    site.language(page, "fa")
    expect(page.locator("html")).to_have_attribute("dir", "rtl")
    nav = page.locator("#navigation").bounding_box()
    main = page.locator("main").bounding_box()
    assert nav is not None
    assert main is not None
    assert nav["x"] > main["x"], (nav, main)  # the navigation is on the right
    expect(page.locator("h1")).to_have_text("خوش آمدید")
    site.language(page, "ar")
    expect(page.locator("html")).to_have_attribute("dir", "rtl")
    nav, main = page.locator("#navigation").bounding_box(), page.locator("main").bounding_box()
    assert nav is not None
    assert main is not None
    assert nav["x"] > main["x"]
    site.language(page, "en")
    expect(page.locator("html")).to_have_attribute("dir", "ltr")
    nav, main = page.locator("#navigation").bounding_box(), page.locator("main").bounding_box()
    assert nav is not None
    assert main is not None
    assert nav["x"] < main["x"]
    expect(page.locator("h1")).to_have_text("Welcome")


def test_the_chosen_language_follows_the_person_to_a_new_browser(
    site: Site, page: Page, browser: object
) -> None:
    who = site.person()
    site.sign_in(page, who)
    site.language(page, "ar")
    other = page.context.browser.new_context(locale="en-US")  # type: ignore[union-attr]
    try:
        fresh = other.new_page()
        site.sign_in(fresh, who)
        expect(fresh.locator("html")).to_have_attribute("lang", "ar")
    finally:
        other.close()


def _links(page: Page) -> set[str]:
    return set(page.locator("#navigation a").all_inner_texts())


def test_navigation_shows_each_role_its_own_pages(site: Site, page: Page) -> None:
    owner, manager, customer = site.person(), site.person(), site.person()
    tenant = site.tenant(owner)
    add_member(site.db, SYSTEM, tenant_id=tenant.id, email=manager.email, role=TenantRole.MANAGER)
    mine = {"My subscriptions", "My payments", "My tickets", "My exports", "Sessions", "Password"}
    tenant_pages = {
        "Plans", "Payments", "Subscribers", "Content", "Download log", "Tickets", "Exports",
    }  # fmt: skip
    seen = {}
    for role, who in (
        ("customer", customer),
        ("owner", owner),
        ("manager", manager),
        ("platform_admin", site.person(PlatformRole.PLATFORM_ADMIN)),
        ("support_admin", site.person(PlatformRole.SUPPORT_ADMIN)),
        ("auditor", site.person(PlatformRole.AUDITOR)),
    ):
        page.context.clear_cookies()
        page.context.add_cookies([{"name": "darvaza_language", "value": "en", "url": site.url}])
        site.sign_in(page, who)
        seen[role] = _links(page)
    assert seen["customer"] == mine
    # Managers and support access: owners only.
    assert seen["owner"] == mine | tenant_pages | {"Managers", "Support access"}
    assert seen["manager"] == mine | tenant_pages
    platform = {
        "Users", "API tokens", "Tenants", "Payments", "Jobs", "Workers", "Audit log",
        "Ops summary", "Evidence", "Backups", "Support queue", "Access grants", "Incidents",
        "Readiness",
    }  # fmt: skip
    assert seen["platform_admin"] == mine | platform
    support_desk = {"Tenants", "Ops summary", "Support queue", "Access grants", "Incidents"}
    assert seen["support_admin"] == mine | support_desk
    assert seen["auditor"] == mine | {
        "Payments", "Jobs", "Workers", "Audit log", "Ops summary", "Evidence", "Backups",
        "Incidents", "Readiness",
    }  # fmt: skip
    # What the navigation leaves out, the page refuses too.
    page.goto(site.url + "/console/admin/users")
    expect(page.locator("h1")).to_have_text("Not allowed")


def test_a_form_without_the_session_csrf_token_is_refused(site: Site, page: Page) -> None:
    site.sign_in(page, site.person())
    site.language(page, "en")
    page.goto(site.url + "/console/me/sessions")
    page.locator("input[name=csrf_token]").last.evaluate("input => input.value = 'forged'")
    page.get_by_role("button", name="End every other session").click()
    expect(page.locator("h1")).to_have_text("Not allowed")
    expect(page.locator("main .error")).to_contain_text("did not come from Darvaza")
