"""Support's pages in a real browser: a customer opens a ticket; support (in Persian)
answers it with a reply and an internal note and asks the tenant for access; the owner
(in Arabic) approves it, sees the access log, and revokes it; the customer (in English)
never sees the note."""

from __future__ import annotations

from playwright.sync_api import Browser, Page, expect

from darvaza.security.roles import PlatformRole
from tests.browser.site import Site

NOTE = "Refund is waiting on the gateway"


def _new_page(browser: Browser) -> Page:
    return browser.new_context(locale="en-US").new_page()


def test_a_ticket_from_the_customer_to_support_and_a_grant_the_owner_decides(
    site: Site, page: Page, browser: Browser
) -> None:
    owner, customer = site.person(), site.person()
    support = site.person(PlatformRole.SUPPORT_ADMIN)
    tenant = site.tenant(owner, name="Acme")

    # The customer opens a ticket.
    site.sign_in(page, customer)
    site.language(page, "en")
    page.goto(f"{site.url}/console/t/{tenant.slug}/tickets/new")
    page.locator("#field-subject").fill("My download link expired")
    page.locator("#field-body").fill("It says the link ended.")
    page.locator("#field-priority").select_option("high")
    page.get_by_role("button", name="Open the ticket").click()
    expect(page.locator("h1")).to_have_text("My download link expired")
    expect(page.locator("#messages li")).to_have_count(1)
    ticket_url = page.url

    # Support, in Persian: the queue, the ticket, a note, a reply, a request for access.
    desk = _new_page(browser)
    site.sign_in(desk, support)
    site.language(desk, "fa")
    desk.goto(site.url + "/console/support/tickets")
    expect(desk.locator("h1")).to_have_text("صف پشتیبانی")
    desk.get_by_role("link", name="My download link expired").click()
    expect(desk.locator("#sla")).to_contain_text("ساعت SLA")
    desk.locator("#reply #field-body").fill(NOTE)
    desk.locator("#reply input[name=internal]").check()
    desk.locator("#reply button[type=submit]").click()
    expect(desk.locator("#messages li.message-note")).to_contain_text(NOTE)
    desk.locator("#reply #field-body").fill("We are on it.")
    desk.locator("#reply button[type=submit]").click()
    expect(desk.locator("#messages li")).to_have_count(3)
    # Asking without choosing any data: the form again, saying what is wrong.
    desk.locator("#ask #field-reason").fill("Check the refund")
    desk.locator("#ask button[type=submit]").click()
    expect(desk.locator("#ask .error, #ask .field-error").first).to_be_visible()
    desk.locator("#ask #field-reason").fill("Check the refund")
    desk.locator("#ask input[name=data_classes][value=payments]").check()
    desk.locator("#ask button[type=submit]").click()
    expect(desk.locator("h1")).to_contain_text("مجوز دسترسی پشتیبانی")
    expect(desk.locator(".state-requested")).to_have_text("درخواست‌شده")

    # The owner, in Arabic: the request waits; approved; then revoked.
    owners = _new_page(browser)
    site.sign_in(owners, owner)
    site.language(owners, "ar")
    owners.goto(f"{site.url}/console/t/{tenant.slug}/manage/support")
    expect(owners.locator("h1")).to_contain_text("وصول الدعم")
    waiting = owners.locator("#waiting li.card")
    expect(waiting).to_have_count(1)
    expect(waiting).to_contain_text("Check the refund")
    waiting.get_by_role("button", name="موافقة").click()
    expect(owners.locator(".state-approved")).to_have_text("تمت الموافقة")
    expect(owners.locator("#history li")).to_have_count(2)
    owners.get_by_role("button", name="إلغاء فوري").click()
    expect(owners.locator(".state-revoked")).to_have_text("ملغى")
    expect(owners.locator("#history li")).to_have_count(3)

    # The customer, in English, sees the reply and never the note.
    page.goto(ticket_url)
    expect(page.locator("#messages li")).to_have_count(2)
    expect(page.locator("#messages")).to_contain_text("We are on it.")
    expect(page.locator("#messages")).not_to_contain_text(NOTE)
    page.goto(site.url + "/console/tickets")
    expect(page.locator("#tickets tbody tr")).to_have_count(1)
