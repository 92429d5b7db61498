"""Browser tests: Playwright for Python driving Debian's Chromium against the real app on
a real server and database.

Chromium comes from Debian (`make test` installs the `chromium` package when it is
missing); Playwright never downloads a browser. Without Chromium these tests are skipped,
except under CI, where that is a failure. Every test saves a screenshot of where it ended
(`var/screenshots/tests/`), and every page it opens is checked for what the content
security policy refused: a page that needs an inline script or a foreign origin fails.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Page, sync_playwright

from tests.browser.site import Site

CHROMIUM = Path(os.environ.get("TEST_CHROMIUM", "/usr/bin/chromium"))
ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "var" / "screenshots" / "tests"
# As the machine's own probe runs it: no sandbox (root in CI), and no calls home, which
# this network refuses.
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage",
]  # fmt: skip


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium")
        pytest.skip(f"{CHROMIUM} is missing (install Debian's chromium package)")
    with sync_playwright() as playwright:
        found = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield found
        found.close()


@pytest.fixture
def site(database_url: str, tmp_path: Path) -> Iterator[Site]:
    running = Site.start(database_url, tmp_path / "files")
    yield running
    running.stop()


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    found = browser.new_context(viewport={"width": 1440, "height": 900}, locale="en-US")
    found.set_default_timeout(15_000)
    yield found
    found.close()


@pytest.fixture
def page(context: BrowserContext, request: pytest.FixtureRequest) -> Iterator[Page]:
    opened = context.new_page()
    refused: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error" and "Content Security Policy" in message.text:
            refused.append(message.text)

    opened.on("console", on_console)
    yield opened
    SHOTS.mkdir(parents=True, exist_ok=True)
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.nodeid.split("::", 1)[-1])
    if not opened.is_closed():
        opened.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
    assert refused == [], refused
