"""Every main page, as the person who uses it, in English and in Persian, at a desktop's
width and a phone's: axe-core finds nothing serious or critical, and nothing is wider
than a phone. (On SQLite only: the pages' markup does not depend on the database.)"""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, expect

from tests.browser.site import Site
from tests.browser.tour import (
    PAGES,
    WIDTHS,
    build_world,
    overflows,
    path_of,
    serious_violations,
    tour_context,
)


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
@pytest.mark.parametrize("width", list(WIDTHS), ids=list(WIDTHS))
def test_every_main_page_is_accessible_and_fits(site: Site, browser: Browser, width: str) -> None:
    world = build_world(site)
    context = tour_context(browser, WIDTHS[width])
    found: list[str] = []
    try:
        page = context.new_page()
        signed_in = None
        for language in ("en", "fa"):
            context.add_cookies([{"name": "darvaza_language", "value": language, "url": site.url}])
            for name, who, path in PAGES:
                if who != signed_in:
                    context.clear_cookies(name="darvaza_session")
                    if who is not None:
                        site.sign_in(page, world.who(who))
                    signed_in = who
                page.goto(site.url + path_of(world, path))
                expect(page.locator("html")).to_have_attribute("lang", language)
                found += [f"{name} [{language}]: {v}" for v in serious_violations(page)]
                if sticking_out := overflows(page):
                    found.append(
                        f"{name} [{language}]: wider than {WIDTHS[width]} px: {sticking_out}"
                    )
    finally:
        context.close()
    assert found == [], "\n".join(found)
