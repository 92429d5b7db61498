"""A customer's whole path in a real browser: a tenant's owner uploads and publishes an
item; a customer finds the plans, pays through the mock gateway, lands on the result
page, sees the subscription, and downloads the item."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Page, expect

from tests.browser.site import Site


def test_from_the_plans_to_a_paid_subscription_to_a_download(
    site: Site, page: Page, tmp_path: Path
) -> None:
    owner, customer = site.person(), site.person()
    tenant = site.tenant(owner, name="Acme Learning")
    site.plan(tenant, code="gold", name="Gold", price_rials=1_500_000, period_days=30)

    # The owner uploads a file and publishes it.
    site.sign_in(page, owner)
    site.language(page, "en")
    page.goto(f"{site.url}/console/t/{tenant.slug}/manage/content")
    page.locator("#field-title").fill("Lesson one")
    upload = tmp_path / "lesson-1.pdf"
    upload.write_bytes(b"%PDF-1.4 lesson one " * 500)
    page.locator("input[type=file]").first.set_input_files(str(upload))
    page.get_by_role("button", name="Upload", exact=True).click()
    expect(page.locator("h1")).to_have_text("Lesson one")
    expect(page.locator("main .state")).to_have_text("Draft")
    page.get_by_role("button", name="Publish").click()
    expect(page.locator("main .state").first).to_have_text("Published")
    page.locator("form.signout button").click()

    # The customer: the plans page, before signing in, offers to sign in first.
    page.goto(f"{site.url}/console/t/{tenant.slug}/plans")
    expect(page.locator("h1")).to_have_text("Plans of Acme Learning")
    expect(page.locator(".plan .price")).to_have_text("1,500,000 Rials")
    page.get_by_role("link", name="Sign in to buy").click()
    page.locator("#field-email").fill(customer.email)
    page.locator("#field-password").fill(customer.password)
    page.locator("form.stack button[type=submit]").click()
    expect(page).to_have_url(f"{site.url}/console/t/{tenant.slug}/plans")

    # Buy: on to the mock gateway's page, styled as the console, and pay.
    page.get_by_role("button", name="Buy Gold").click()
    expect(page.locator("h1")).to_have_text("Mock payment gateway")
    expect(page.locator("main")).to_contain_text("1,500,000 Rials")
    page.get_by_role("button", name="Pay", exact=True).click()
    page.get_by_role("button", name="Return to the shop").click()
    expect(page.locator("h1")).to_have_text("Payment received")

    # The subscription is there, and the download works.
    page.locator("main").get_by_role("link", name="My subscriptions").click()
    row = page.locator("tbody tr").first
    expect(row).to_contain_text("Acme Learning")
    expect(row).to_contain_text("Active")
    row.get_by_role("link", name="Downloads").click()
    with page.expect_download() as downloading:
        page.get_by_role("button", name="Download Lesson one").click()
    saved = tmp_path / "got.pdf"
    downloading.value.save_as(saved)
    assert saved.read_bytes() == upload.read_bytes()
    assert downloading.value.suggested_filename == "lesson-1.pdf"


def test_a_customer_without_a_subscription_sees_what_is_locked(site: Site, page: Page) -> None:
    owner, customer = site.person(), site.person()
    tenant = site.tenant(owner)
    site.plan(tenant)
    site.sign_in(page, customer)
    site.language(page, "en")
    page.goto(f"{site.url}/console/t/{tenant.slug}/downloads")
    expect(page.locator("h1")).to_contain_text("Downloads")
    expect(page.locator("main")).to_contain_text("Nothing is published yet.")


def test_two_clicks_on_buy_make_one_payment(site: Site, page: Page) -> None:
    """The form is sent twice (as a double click on a slow line would): one payment."""
    owner, customer = site.person(), site.person()
    tenant = site.tenant(owner)
    site.plan(tenant)
    site.sign_in(page, customer)
    site.language(page, "en")
    page.goto(f"{site.url}/console/t/{tenant.slug}/plans")
    form = page.locator("form[action$='/checkout']")
    fields = form.evaluate("f => Object.fromEntries(new FormData(f).entries())")
    for _ in range(2):
        sent = page.request.post(
            f"{site.url}/console/t/{tenant.slug}/checkout", form=fields, max_redirects=0
        )
        assert sent.status == 303, sent.text()
    page.goto(f"{site.url}/console/me/payments")
    expect(page.locator("tbody tr")).to_have_count(1)
