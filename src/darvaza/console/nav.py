"""The console's navigation: each domain's pages declare their entries (`NAV` in its
`pages.py`), the composition root collects them into one `Navigation`, and every page
shows a person the entries their roles admit, by the same policies the pages enforce."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from darvaza.errors import N_
from darvaza.security.caller import Caller, TenantRef
from darvaza.security.policy import Policy

# The order sections appear in. A tenant's pages form one section per tenant.
SECTIONS = (N_("My account"), N_("Tenant"), N_("Platform"))


@dataclass(frozen=True)
class NavEntry:
    section: str
    label: str
    # A path under /console; `{tenant}` is a tenant's slug (one entry for each tenant the
    # person has a role in).
    path: str
    policy: Policy
    order: int = 50


@dataclass(frozen=True)
class NavLink:
    label: str
    href: str


@dataclass(frozen=True)
class NavSection:
    title: str
    links: tuple[NavLink, ...]
    # For a tenant's section: which tenant (its name is shown beside the title).
    tenant: TenantRef | None = None


class Navigation:
    def __init__(self, entries: Iterable[NavEntry]) -> None:
        self.entries = sorted(entries, key=lambda entry: (entry.order, entry.label))
        unknown = {entry.section for entry in self.entries} - set(SECTIONS)
        if unknown:
            raise ValueError(f"unknown navigation sections: {sorted(unknown)}")

    def for_caller(self, caller: Caller | None) -> list[NavSection]:
        if caller is None:
            return []
        sections = []
        for title in SECTIONS:
            entries = [entry for entry in self.entries if entry.section == title]
            if not entries:
                continue
            if title == "Tenant":
                for tenant_id, tenant in sorted(caller.tenants.items(), key=lambda t: t[1].name):
                    links = tuple(
                        NavLink(entry.label, entry.path.replace("{tenant}", tenant.slug))
                        for entry in entries
                        if entry.policy.admits(caller, tenant_id)
                    )
                    if links:
                        sections.append(NavSection(title, links, tenant))
                continue
            links = tuple(
                NavLink(entry.label, entry.path)
                for entry in entries
                if entry.policy.admits(caller, None)
            )
            if links:
                sections.append(NavSection(title, links))
        return sections
