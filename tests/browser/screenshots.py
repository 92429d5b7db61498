"""`make screenshots`: a picture of each main console page, in Persian and in English, on
a world made for the purpose (a fresh SQLite database under a temporary folder).

    python -m tests.browser.screenshots docs/screenshots
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from playwright.sync_api import sync_playwright

from darvaza.db import Database
from darvaza.migrate import upgrade_to_head
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.browser.site import Site
from tests.browser.tour import PAGES, build_world, path_of, tour_context

LANGUAGES = ("fa", "en")


def take(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    saved = []
    with tempfile.TemporaryDirectory() as scratch, sync_playwright() as playwright:
        url = f"sqlite:///{scratch}/screenshots.db"
        database = Database(url)
        upgrade_to_head(database)
        database.dispose()
        site = Site.start(url, Path(scratch) / "files")
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            world = build_world(site)
            for language in LANGUAGES:
                context = tour_context(browser, 1280)
                context.add_cookies(
                    [{"name": "darvaza_language", "value": language, "url": site.url}]
                )
                page, signed_in = context.new_page(), None
                for name, who, path in PAGES:
                    if who != signed_in:
                        context.clear_cookies(name="darvaza_session")
                        if who is not None:
                            site.sign_in(page, world.who(who))
                        signed_in = who
                    page.goto(site.url + path_of(world, path))
                    target = folder / f"{name}-{language}.png"
                    page.screenshot(path=str(target))
                    saved.append(target)
                context.close()
        finally:
            browser.close()
            site.stop()
    return saved


if __name__ == "__main__":
    for path in take(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/screenshots")):
        print(path)
