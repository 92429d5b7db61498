"""The site a browser test drives: the real app on a real server, on the test's own
database, with the people and tenants a test needs made through the real services."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path

from playwright.sync_api import Page, expect

from darvaza.billing.plans import create_plan
from darvaza.config import Settings
from darvaza.db import Database
from darvaza.security.roles import PlatformRole
from darvaza.tenants.models import Tenant
from darvaza.tenants.service import create_tenant
from tests.support.live_server import LiveServer, free_port
from tests.support.settings import make_settings
from tests.support.world import SYSTEM, Person, make_app, person


@dataclass
class Site:
    url: str
    db: Database

    server: LiveServer
    storage_dir: Path

    @property
    def backup_dir(self) -> Path:
        return self.storage_dir.parent / "backups"

    @classmethod
    def start(cls, database_url: str, storage_dir: Path, **settings: object) -> Site:
        """The app on a real server whose public URL is its own address, so the links it
        gives out (the gateway's page, its callback) lead back to it; its restore points
        beside its files."""
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        settings.setdefault("backup_dir", str(storage_dir.parent / "backups"))
        app = make_app(database_url, public_url=url, storage_dir=str(storage_dir), **settings)
        server = LiveServer(app, port)
        server.start()
        return cls(url, Database(database_url), server, storage_dir)

    def settings(self) -> Settings:
        """The settings the site's server runs with, for the services a test calls."""
        return make_settings(
            database_url=self.db.url.render_as_string(hide_password=False), public_url=self.url,
            storage_dir=str(self.storage_dir), backup_dir=str(self.backup_dir),
        )  # fmt: skip

    def stop(self) -> None:
        self.server.stop()
        self.db.dispose()

    def person(self, role: PlatformRole | None = None) -> Person:
        return person(self.db, role)

    def tenant(self, owner: Person, *, slug: str | None = None, name: str = "Acme") -> Tenant:
        slug = slug or f"shop-{secrets.token_hex(3)}"
        return create_tenant(self.db, SYSTEM, slug=slug, name=name, owner_email=owner.email)

    def plan(self, tenant: Tenant, *, code: str = "gold", name: str = "Gold",
             price_rials: int = 1_500_000, period_days: int = 30) -> None:  # fmt: skip
        create_plan(
            self.db, SYSTEM, tenant_id=tenant.id, code=code, name=name,
            price_rials=price_rials, period_days=period_days,
        )  # fmt: skip

    def sign_in(self, page: Page, who: Person, *, next_path: str = "") -> None:
        page.goto(self.url + "/console/login" + (f"?next={next_path}" if next_path else ""))
        page.locator("#field-email").fill(who.email)
        page.locator("#field-password").fill(who.password)
        page.locator("form.stack button[type=submit]").click()
        expect(page.locator("form.signout")).to_be_visible()

    def language(self, page: Page, code: str) -> None:
        """Choose a language from the menu every page has."""
        page.locator("#language-choice").select_option(code)
        expect(page.locator("html")).to_have_attribute("lang", code)
