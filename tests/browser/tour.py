"""The console's main pages, each as the person who uses it, on a small world made
through the real services: the accessibility test walks them all, and
`make screenshots` pictures them (`python -m tests.browser.screenshots`)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, BrowserContext, Page

from darvaza.assembly import CHECKS
from darvaza.billing.gateways import GatewayRegistry
from darvaza.billing.gateways.mock import settle_mock_payment
from darvaza.billing.service import (
    list_plans,
    receive_callback,
    send_payer_to_gateway,
    start_checkout,
)
from darvaza.clock import utcnow
from darvaza.content.service import LocalStorage, create_item, move_item
from darvaza.content.storage import StoredFile
from darvaza.operations.service import Drill, Run, create_backup, record_evidence
from darvaza.ops.service import ops_summary, run_checks
from darvaza.security.roles import PlatformRole
from darvaza.tenants.models import Tenant
from tests.browser.site import Site
from tests.support.jobs import parts as make_parts
from tests.support.settings import make_settings
from tests.support.world import SYSTEM, Person

AXE = Path(__file__).parent / "node_modules" / "axe-core" / "axe.min.js"
# What axe checks: WCAG 2.1 A and AA, and its best practices.
AXE_RULES = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]
WIDTHS = {"desktop": 1440, "phone": 360}


@dataclass
class World:
    owner: Person
    customer: Person
    admin: Person
    slug: str
    payment_id: str
    item_id: str
    plan_id: str
    finding_id: str
    support: Person
    ticket_id: str
    grant_id: str
    incident_id: str

    def who(self, role: str) -> Person:
        return {"owner": self.owner, "customer": self.customer, "admin": self.admin,
                "support": self.support}[role]  # fmt: skip


# (name, who, path): `{slug}`, `{payment}` and `{item}` are the world's.
PAGES = (
    ("sign-in", None, "/console/login"),
    ("reset-password", None, "/console/reset-password"),
    ("verify-email", None, "/console/verify-email?token=dzo_" + "A" * 43),
    ("plans", "customer", "/console/t/{slug}/plans"),
    ("my-subscriptions", "customer", "/console/me/subscriptions"),
    ("my-payments", "customer", "/console/me/payments"),
    ("downloads", "customer", "/console/t/{slug}/downloads"),
    ("sessions", "customer", "/console/me/sessions"),
    ("password", "customer", "/console/me/password"),
    ("invitation", "customer", "/console/invitations?token=dzo_" + "A" * 43),
    ("home", "owner", "/console/"),
    ("tenant-plans", "owner", "/console/t/{slug}/manage/plans"),
    ("tenant-plan", "owner", "/console/t/{slug}/manage/plans/{plan}"),
    ("tenant-content", "owner", "/console/t/{slug}/manage/content"),
    ("tenant-item", "owner", "/console/t/{slug}/manage/content/{item}"),
    ("tenant-payments", "owner", "/console/t/{slug}/manage/payments"),
    ("tenant-payment", "owner", "/console/t/{slug}/manage/payments/{payment}"),
    ("tenant-subscribers", "owner", "/console/t/{slug}/manage/subscribers"),
    ("tenant-downloads", "owner", "/console/t/{slug}/manage/downloads"),
    ("staff-home", "admin", "/console/"),
    ("tenants", "admin", "/console/admin/tenants"),
    ("tenant", "admin", "/console/admin/tenants/{slug}"),
    ("users", "admin", "/console/admin/users"),
    ("api-tokens", "admin", "/console/admin/api-tokens"),
    ("platform-payments", "admin", "/console/admin/payments"),
    ("platform-payment", "admin", "/console/admin/payments/{payment}"),
    ("jobs", "admin", "/console/admin/jobs"),
    ("audit-verify", "admin", "/console/admin/audit/verify"),
    ("workers", "admin", "/console/admin/workers"),
    ("audit-log", "admin", "/console/admin/audit"),
    ("ops-summary", "admin", "/console/admin/ops"),
    ("ops-finding", "admin", "/console/admin/ops/findings/{finding}"),
    ("evidence", "admin", "/console/admin/evidence"),
    ("backups", "admin", "/console/admin/backups"),
    ("managers", "owner", "/console/t/{slug}/manage/managers"),
    ("tenant-tickets", "owner", "/console/t/{slug}/manage/tickets"),
    ("tenant-ticket", "owner", "/console/t/{slug}/manage/tickets/{ticket}"),
    ("tenant-support", "owner", "/console/t/{slug}/manage/support"),
    ("tenant-grant", "owner", "/console/t/{slug}/manage/support/{grant}"),
    ("my-tickets", "customer", "/console/tickets"),
    ("my-ticket", "customer", "/console/tickets/{ticket}"),
    ("new-ticket", "customer", "/console/t/{slug}/tickets/new"),
    ("support-queue", "support", "/console/support/tickets"),
    ("support-ticket", "support", "/console/support/tickets/{ticket}"),
    ("support-grants", "support", "/console/support/grants"),
    ("support-grant", "support", "/console/support/grants/{grant}"),
    ("incidents", "admin", "/console/admin/incidents"),
    ("incident", "admin", "/console/admin/incidents/{incident}"),
    ("status", None, "/status"),
    ("readiness", "admin", "/console/admin/readiness"),
    ("my-exports", "owner", "/console/exports"),
    ("tenant-exports", "owner", "/console/t/{slug}/manage/exports"),
)


def build_world(site: Site) -> World:
    """An owner's tenant with a plan and a published item, a customer who paid for it
    through the mock gateway (as the gateway's callback settles it), a platform admin."""
    owner, customer = site.person(), site.person()
    admin = site.person(PlatformRole.PLATFORM_ADMIN)
    tenant = site.tenant(owner, name="Acme Learning")
    site.plan(tenant, code="gold", name="Gold", price_rials=1_500_000, period_days=30)
    payment_id = paid_payment(site, tenant, customer)
    storage = LocalStorage(site.storage_dir)
    item = _published_item(site, storage, owner, tenant.id)
    plan = list_plans(site.db, tenant.id, include_retired=False)[0]
    support = site.person(PlatformRole.SUPPORT_ADMIN)
    ticket_id, grant_id = _support_case(site, tenant, customer, owner, support)
    finding_id = _ops_findings(site)
    return World(
        owner, customer, admin, tenant.slug, payment_id, str(item), str(plan.id),
        finding_id, support, ticket_id, grant_id, _incident(site, admin, tenant, finding_id),
    )  # fmt: skip


def _incident(site: Site, admin: Person, tenant: Tenant, finding_id: str) -> str:
    """An open SEV2 declared from the worst finding, with a public update, a note and a
    mitigation step, so its page and the status page show each part."""
    from darvaza.incidents import service as incidents
    from darvaza.security.caller import Actor

    rules = incidents.IncidentRules.from_settings(site.settings())
    actor = Actor.user(admin.user.id, "platform_admin")
    incident_id = incidents.declare_incident(
        site.db, actor, rules, title="Checkouts fail at the gateway", severity="SEV2",
        summary="The mock gateway answers slowly.", commander_email=admin.email,
        components=["payments", "api"], tenant_slugs=[tenant.slug],
        finding_id=uuid.UUID(finding_id),
    )  # fmt: skip
    incidents.post_update(site.db, actor, rules, incident_id, public=True,
                          body="Some checkouts fail; we are looking into it.")  # fmt: skip
    incidents.add_note(site.db, actor, incident_id, "The gateway's key looks rotated.")
    incidents.record_mitigation(
        site.db, actor, incident_id, kind="config_change",
        description="Raised the gateway timeout", result="partial",
    )  # fmt: skip
    return str(incident_id)


def _support_case(
    site: Site, tenant: Tenant, customer: Person, owner: Person, support: Person
) -> tuple[str, str]:
    """A customer's ticket with support's reply and internal note, and a read grant on
    the tenant's payments the owner approved."""
    from darvaza.identity.service import SessionPolicy, login
    from darvaza.support import service as desk

    settings = site.settings()
    sessions = SessionPolicy.from_settings(settings)
    gatekeeper = desk.GrantingGatekeeper(site.db, sessions)

    def caller(who: Person) -> Any:
        opened = login(site.db, email=who.email, password=who.password, policy=sessions,
                       ip="127.0.0.1", user_agent=None, throttle=None)  # fmt: skip
        return gatekeeper.authenticate(opened.token)

    ticket = desk.open_ticket(
        site.db, caller(customer), settings.sla_targets, tenant_id=tenant.id,
        subject="The download link ended", body="It says the link ended.", category="access",
        priority="high",
    )  # fmt: skip
    support_desk = desk.Desk("support", support.user.id)
    desk.add_message(site.db, caller(support), support_desk, ticket.id, body="Looking at it.")
    desk.add_message(site.db, caller(support), support_desk, ticket.id,
                     body="Gateway refund pending.", internal=True)  # fmt: skip
    grant = desk.request_grant(
        site.db, caller(support), desk.GrantRules.from_settings(settings), tenant_id=tenant.id,
        ticket_id=ticket.id, reason="Check the refund", data_classes=["payments"],
        access="read",
    )  # fmt: skip
    desk.decide_grant(site.db, caller(owner), grant.grant.id, tenant_id=tenant.id, approve=True)
    return str(ticket.id), str(grant.grant.id)


def _ops_findings(site: Site) -> str:
    """Every check run once (no worker and no backup yet: findings open), a smoke run's
    evidence recorded; the id of the worst finding."""
    run_checks(make_parts(site.db), list(CHECKS))
    record_evidence(
        site.db, make_settings(), SYSTEM,
        Run(kind="smoke", name="mock-payment", result="passed", details={"checks": 6}),
    )  # fmt: skip
    summary = ops_summary(site.db, make_settings(), CHECKS)
    _backups(site)
    return str(summary.findings[0].finding.id)


def _backups(site: Site) -> None:
    """Two restore points, the older verified and drilled (after the checks ran, so the
    backup findings stay open)."""
    settings = site.settings()
    older = create_backup(site.db, settings, folder=site.backup_dir, label="before-release")
    create_backup(site.db, settings, folder=site.backup_dir, label="scheduled")
    verified = Run("backup_verify", "deep", "passed", {"point": older.id})
    record_evidence(site.db, settings, SYSTEM, verified)
    drill = Drill(point=older.id, rto_seconds=38.2, rpo_seconds=5.0,
                  steps=[{"step": "restore and deep checks", "seconds": 1.2},
                         {"step": "smoke all", "seconds": 31.5}])  # fmt: skip
    record_evidence(site.db, settings, SYSTEM, drill.run(started_at=utcnow()))


def paid_payment(site: Site, tenant: Tenant, customer: Person, plan_code: str = "gold") -> str:
    """The customer pays for the plan on the mock gateway, and its callback settles it."""
    settings = make_settings(
        database_url=site.db.url.render_as_string(hide_password=False), public_url=site.url
    )
    gateways = GatewayRegistry(settings, site.db)
    started = start_checkout(
        site.db, gateways, user_id=customer.user.id, email=customer.email,
        tenant_id=tenant.id, plan_code=plan_code, public_url=site.url,
    )  # fmt: skip
    sent = send_payer_to_gateway(site.db, started.order_id)
    mock_id = (sent.gateway_url or "").rstrip("/").rsplit("/", 1)[-1]
    back = settle_mock_payment(site.db, mock_id, pay=True)
    if back is None:
        raise RuntimeError(f"the mock gateway has no payment {mock_id}")
    receive_callback(site.db, gateways, "mock", back.fields, record_rejection=lambda: True)
    return str(started.payment_id)


def _published_item(site: Site, storage: LocalStorage, owner: Person, tenant_id: Any) -> Any:
    stored: StoredFile = storage.write(iter([b"%PDF-1.4 lesson one " * 200]), max_bytes=10**6)
    item = create_item(
        site.db, storage, SYSTEM, tenant_id=tenant_id, title="Lesson one",
        description="The first lesson.", unlocked_by="any_plan", plan_codes=[],
        stored=stored, filename="lesson-1.pdf", content_type="application/pdf",
    )  # fmt: skip
    move_item(site.db, SYSTEM, tenant_id=tenant_id, item_id=item.id, move="publish")
    return item.id


def path_of(world: World, path: str) -> str:
    return path.format(
        slug=world.slug,
        payment=world.payment_id,
        item=world.item_id,
        plan=world.plan_id,
        finding=world.finding_id,
        ticket=world.ticket_id,
        grant=world.grant_id,
        incident=world.incident_id,
    )


def tour_context(browser: Browser, width: int) -> BrowserContext:
    context = browser.new_context(viewport={"width": width, "height": 900}, locale="en-US")
    context.set_default_timeout(15_000)
    # An init script is the browser's own: it runs whatever the page's content policy.
    context.add_init_script(path=str(AXE))
    return context


def serious_violations(page: Page) -> list[str]:
    """What axe finds serious or critical on the page, one line each."""
    found = page.evaluate(
        """async (rules) => (await axe.run(document, {runOnly: rules})).violations
            .filter(v => v.impact === "serious" || v.impact === "critical")
            .map(v => `${v.id} (${v.impact}): ${v.help} at `
                      + v.nodes.map(n => n.target).join(", "))""",
        AXE_RULES,
    )
    return [str(line) for line in found]


def overflows(page: Page) -> list[str]:
    """What sticks out of the window (a phone would have to scroll sideways to see it):
    the outermost such elements, by tag and class. Empty when the page fits."""
    found = page.evaluate(
        """() => {
            const width = window.innerWidth;
            if (document.documentElement.scrollWidth <= width + 1) return [];
            // What a scrolling region (a wide table's) holds scrolls there, not the page.
            const out = [...document.querySelectorAll("body *")].filter(e => {
                if (e.closest(".table-wrap") && !e.matches(".table-wrap")) return false;
                const box = e.getBoundingClientRect();
                return box.right > width + 1 || box.left < -1;
            });
            const outer = out.filter(e => !out.includes(e.parentElement));
            return outer.slice(0, 5).map(e => e.tagName.toLowerCase()
                + (e.className ? "." + String(e.className).split(" ").join(".") : ""));
        }"""
    )
    return [str(entry) for entry in found]
