"""Declaring an incident, and changing it: its details, its times, its status, its roles;
its notes, its mitigation steps and what it is linked to.

An incident's times are kept in order: impact began (`started_at`) no later than it was
noticed (`detected_at`), noticed no later than declared; contained (`mitigated_at`) and
gone (`resolved_at`) no earlier than noticed, and gone no earlier than contained. Nothing
is dated in the future. A change that would break the order is refused (422) and changes
nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from darvaza.clock import utcnow
from darvaza.config import Settings
from darvaza.db import Database
from darvaza.errors import Conflict, InvalidInput
from darvaza.identity import service as identity
from darvaza.incidents.models import (
    ACTIVE,
    COMPONENTS,
    INCIDENT,
    MITIGATION_KINDS,
    MITIGATION_RESULTS,
    ROLES,
    SEVERITIES,
    Incident,
    IncidentAction,
)
from darvaza.incidents.timeline import NOT_FOUND, change, has_ref, record, text, user_of
from darvaza.operations import service as operations
from darvaza.ops import service as ops
from darvaza.security.caller import Actor
from darvaza.security.roles import PlatformRole
from darvaza.tenants import service as tenants

# A clock a little ahead of ours is not "the future".
SKEW = timedelta(minutes=2)
# The evidence a mitigation of each kind must name.
EVIDENCE_OF = {"rollback": ("rollback",), "restore": ("restore",)}
TIME_FIELDS = ("started_at", "detected_at", "declared_at", "mitigated_at", "resolved_at")
STAFF = frozenset(PlatformRole)


@dataclass(frozen=True)
class IncidentRules:
    # How long an incident of each severity may go without a status update.
    cadence: dict[str, timedelta]
    mail_owners: bool
    console_url: str
    status_days: int

    @classmethod
    def from_settings(cls, settings: Settings) -> IncidentRules:
        return cls(
            settings.incident_update_cadence,
            settings.incident_mail_owners,
            settings.public_url.rstrip("/"),
            settings.status_page_days,
        )

    def next_update(self, severity: str, after: datetime) -> datetime:
        return after + self.cadence[severity]


def check_times(incident: Incident, now: datetime) -> None:
    """Refuse (422, `times_out_of_order`) times out of order or in the future."""
    times = {name: getattr(incident, name) for name in TIME_FIELDS}
    for name, at in times.items():
        if at is not None and at > now + SKEW:
            raise InvalidInput(f"`{name}` is in the future.", code="times_out_of_order")
    pairs = [
        ("started_at", "detected_at"), ("detected_at", "declared_at"),
        ("detected_at", "mitigated_at"), ("detected_at", "resolved_at"),
        ("mitigated_at", "resolved_at"),
    ]  # fmt: skip
    for earlier, later in pairs:
        first, then = times[earlier], times[later]
        if first is not None and then is not None and first > then:
            raise InvalidInput(
                f"`{earlier}` ({first.isoformat()}) is after `{later}` ({then.isoformat()}).",
                code="times_out_of_order",
            )


def _severity(name: str) -> str:
    if name not in SEVERITIES:
        raise InvalidInput(f"The severity is one of {', '.join(SEVERITIES)}.",
                           code="invalid_severity")  # fmt: skip
    return name


def _components(names: Sequence[str]) -> list[str]:
    unknown = [name for name in names if name not in COMPONENTS]
    if unknown or len(set(names)) != len(names):
        raise InvalidInput(
            f"Name each affected component once, of: {', '.join(COMPONENTS)}.",
            code="invalid_components",
        )
    return sorted(names, key=COMPONENTS.index)


def _tenants(session: Session, slugs: Sequence[str]) -> list[str]:
    ids = []
    for slug in dict.fromkeys(slugs):
        tenant_id = tenants.tenant_id_of(session, slug)
        if tenant_id is None:
            raise InvalidInput(f"No tenant has the slug {slug!r}.", code="invalid_tenant")
        ids.append(str(tenant_id))
    return ids


def staff_member(session: Session, email: str, role: str) -> uuid.UUID:
    """The platform staff member with this email, who may hold an incident role."""
    person = identity.find_user_by_email(session, email)
    if person is None or identity.platform_role_of(session, person.id) not in STAFF:
        raise InvalidInput(
            f"The {role} must be platform staff (a platform admin, support admin or auditor).",
            code="invalid_role_holder",
        )
    return person.id


def declare_incident(
    db: Database, actor: Actor, rules: IncidentRules, *, title: str, summary: str,
    severity: str, commander_email: str | None, components: Sequence[str] = (),
    tenant_slugs: Sequence[str] = (), all_tenants: bool = False,
    started_at: datetime | None = None, detected_at: datetime | None = None,
    finding_id: uuid.UUID | None = None,
) -> uuid.UUID:  # fmt: skip
    """Declare an incident (from a finding, if one is named: the finding links to it). The
    commander is the person named, or the one declaring; the first update is due by the
    severity's cadence."""
    title = text(title, "title", limit=200)
    summary = text(summary, "summary", required=False)
    severity = _severity(severity)
    now = utcnow()
    with db.transaction() as session:
        if commander_email:
            commander = staff_member(session, commander_email, "commander")
        elif (declarer := user_of(actor)) is not None:
            commander = declarer
        else:
            raise InvalidInput("Name the incident's commander.", code="invalid_role_holder")
        detected = detected_at or now
        incident = Incident(
            title=title, summary=summary, severity=severity, status="open",
            components=_components(components), all_tenants=all_tenants,
            tenant_ids=[] if all_tenants else _tenants(session, tenant_slugs),
            commander_id=commander, declared_by=user_of(actor),
            started_at=started_at or detected, detected_at=detected, declared_at=now,
            next_update_due_at=rules.next_update(severity, now), updated_at=now,
        )  # fmt: skip
        check_times(incident, now)
        session.add(incident)
        session.flush()
        record(session, incident, "declared", f"Declared {severity}: {title}", actor, now,
               data={"severity": severity, "commander_id": str(commander)})  # fmt: skip
        if finding_id is not None:
            _link_finding(session, incident, finding_id, actor, now)
        return incident.id


def _link_finding(session: Session, incident: Incident, finding_id: uuid.UUID, actor: Actor,
                  now: datetime) -> None:  # fmt: skip
    ref = f"finding:{finding_id}"
    if has_ref(session, incident.id, ref):
        raise Conflict("This finding is linked to this incident already.", code="already_linked")
    finding = ops.link_to_incident(session, finding_id, incident.id, now, who=actor.id)
    record(session, incident, "finding", f"Finding linked: {finding.title} ({finding.code})",
           actor, now, ref=ref, data={"finding_id": str(finding.id), "code": finding.code,
                                      "tenant_id": str(finding.tenant_id or "")})  # fmt: skip


def link_finding(db: Database, actor: Actor, incident_id: uuid.UUID, finding_id: uuid.UUID) -> None:
    change(db, incident_id, lambda s, i, now: _link_finding(s, i, finding_id, actor, now))


def link_evidence(db: Database, actor: Actor, incident_id: uuid.UUID,
                  evidence_id: uuid.UUID) -> None:  # fmt: skip
    """Link a run's evidence (a drill, a backup, a smoke run) to the incident's story."""

    def link(session: Session, incident: Incident, now: datetime) -> None:
        evidence = operations.evidence_in(session, evidence_id)
        if evidence is None:
            raise InvalidInput("No evidence has this id.", code="invalid_evidence")
        ref = f"evidence:{evidence_id}"
        if has_ref(session, incident.id, ref):
            raise Conflict("This evidence is linked already.", code="already_linked")
        record(session, incident, "evidence",
               f"Evidence linked: {evidence.kind} {evidence.name} ({evidence.result})", actor,
               now, ref=ref, data={"evidence_id": str(evidence_id), "kind": evidence.kind,
                                   "result": evidence.result})  # fmt: skip

    change(db, incident_id, link)


def change_details(
    db: Database, actor: Actor, rules: IncidentRules, incident_id: uuid.UUID, *,
    title: str | None = None, summary: str | None = None, severity: str | None = None,
    components: Sequence[str] | None = None, tenant_slugs: Sequence[str] | None = None,
    all_tenants: bool | None = None, started_at: datetime | None = None,
    detected_at: datetime | None = None, reason: str | None = None,
) -> None:  # fmt: skip
    """Change what is known of an incident; each kind of change is a line of its story.
    A closed incident (reviewed or cancelled) keeps what it had."""

    def apply(session: Session, incident: Incident, now: datetime) -> None:
        if INCIDENT.final & {incident.status}:
            raise Conflict(f"A {incident.status} incident is not changed any more.",
                           code=f"incident_{incident.status}")  # fmt: skip
        why = f" ({reason.strip()})" if reason and reason.strip() else ""
        if severity is not None and severity != incident.severity:
            before, incident.severity = incident.severity, _severity(severity)
            if incident.status in ACTIVE and incident.next_update_due_at is not None:
                # A more severe incident is told about sooner.
                incident.next_update_due_at = min(
                    incident.next_update_due_at, rules.next_update(incident.severity, now)
                )
            record(session, incident, "severity", f"Severity {before} → {incident.severity}{why}",
                   actor, now, data={"from": before, "to": incident.severity})  # fmt: skip
        changed = {}
        if title is not None:
            incident.title = changed["title"] = text(title, "title", limit=200)
        if summary is not None:
            incident.summary = changed["summary"] = text(summary, "summary", required=False)
        if components is not None:
            incident.components = _components(components)
            changed["components"] = ", ".join(incident.components)
        if all_tenants is not None or tenant_slugs is not None:
            incident.all_tenants = bool(all_tenants)
            incident.tenant_ids = [] if all_tenants else _tenants(session, tenant_slugs or ())
            changed["tenants"] = "all" if incident.all_tenants else str(len(incident.tenant_ids))
        if changed:
            record(session, incident, "details", f"Changed {', '.join(changed)}{why}", actor, now,
                   data={k: v for k, v in changed.items() if k != "summary"})  # fmt: skip
        times = {"started_at": started_at, "detected_at": detected_at}
        moved = {name: at for name, at in times.items() if at is not None}
        if moved:
            was = {name: getattr(incident, name).isoformat() for name in moved}
            for name, at in moved.items():
                setattr(incident, name, at)
            check_times(incident, now)
            after = {name: at.isoformat() for name, at in moved.items()}
            line = "Times corrected: " + ", ".join(f"{n} {at}" for n, at in after.items())
            record(session, incident, "times", line + why, actor, now,
                   data={"before": was, "after": after})  # fmt: skip

    change(db, incident_id, apply)


def set_status(
    db: Database, actor: Actor, rules: IncidentRules, incident_id: uuid.UUID, target: str, *,
    at: datetime | None = None, reason: str | None = None,
) -> None:  # fmt: skip
    """Move an incident to `mitigated`, `resolved`, back to `open`, or `cancelled`. The time
    it happened may be given (a mitigation noticed late); it is kept in order. `reviewed`
    comes only with a review."""
    if target == "reviewed":
        raise Conflict("An incident becomes reviewed with its review.", code="review_required")
    if target not in INCIDENT.states:
        raise InvalidInput(f"The status is one of {', '.join(INCIDENT.states)}.",
                           code="invalid_status")  # fmt: skip

    def apply(session: Session, incident: Incident, now: datetime) -> None:
        move_status(session, incident, target, actor, rules, now, at=at, reason=reason)

    change(db, incident_id, apply)


def move_status(
    session: Session, incident: Incident, target: str, actor: Actor, rules: IncidentRules,
    now: datetime, *, at: datetime | None = None, reason: str | None = None,
) -> None:  # fmt: skip
    """The one way an incident's status changes."""
    when = at or now
    allowed = sorted(INCIDENT.transitions[incident.status])
    if not INCIDENT.allows(incident.status, target):
        raise Conflict(
            f"A {incident.status} incident cannot become {target}; it may become: "
            f"{', '.join(allowed) or 'nothing (it is final)'}.",
            code="invalid_transition",
        )
    source = incident.status
    INCIDENT.check(source, target)
    incident.status = target
    if target == "mitigated":
        incident.mitigated_at = when
    elif target == "resolved":
        incident.resolved_at = when
        # Resolved outright: the impact was contained when it ended.
        incident.mitigated_at = incident.mitigated_at or when
    elif target == "open":
        incident.mitigated_at = None
        incident.next_update_due_at = rules.next_update(incident.severity, now)
    elif target == "cancelled":
        incident.cancelled_at = when
    elif target == "reviewed":
        incident.reviewed_at = when
    if target not in ACTIVE:
        incident.next_update_due_at = None
    check_times(incident, now)
    why = f": {reason.strip()}" if reason and reason.strip() else ""
    record(session, incident, "status", f"Status {source} → {target}{why}", actor, now,
           data={"from": source, "to": target, "at": when.isoformat()})  # fmt: skip


def assign_role(db: Database, actor: Actor, incident_id: uuid.UUID, role: str,
                email: str | None) -> None:  # fmt: skip
    """Hand a role to a staff member (or leave it empty; never the commander's)."""
    if role not in ROLES:
        raise InvalidInput(f"The role is one of {', '.join(ROLES)}.", code="invalid_role")
    column = f"{role}_id"

    def apply(session: Session, incident: Incident, now: datetime) -> None:
        if email is None and role == "commander":
            raise InvalidInput("An incident always has a commander.", code="invalid_role_holder")
        holder = staff_member(session, email, role) if email else None
        before = getattr(incident, column)
        if holder == before:
            return
        setattr(incident, column, holder)
        people = identity.emails_by_id(session, [i for i in (before, holder) if i])
        line = f"{role.capitalize()}: {people.get(before, 'nobody') if before else 'nobody'}"
        line += f" → {people[holder] if holder else 'nobody'}"
        record(session, incident, "role", line, actor, now,
               data={"role": role, "from": str(before) if before else None,
                     "to": str(holder) if holder else None})  # fmt: skip

    change(db, incident_id, apply)


def add_note(db: Database, actor: Actor, incident_id: uuid.UUID, body: str) -> None:
    """A staff note in the story (never published)."""
    body = text(body, "note")
    change(db, incident_id, lambda s, i, now: record(s, i, "note", body, actor, now))


def record_mitigation(
    db: Database, actor: Actor, incident_id: uuid.UUID, *, kind: str, description: str,
    result: str, evidence_id: uuid.UUID | None = None, at: datetime | None = None,
) -> uuid.UUID:  # fmt: skip
    """A mitigation step as it was run. A rollback names a `rollback` evidence, a restore a
    `restore` evidence; the evidence must exist."""
    if kind not in MITIGATION_KINDS:
        raise InvalidInput(f"The kind is one of {', '.join(MITIGATION_KINDS)}.",
                           code="invalid_kind")  # fmt: skip
    if result not in MITIGATION_RESULTS:
        raise InvalidInput(f"The result is one of {', '.join(MITIGATION_RESULTS)}.",
                           code="invalid_result")  # fmt: skip
    description = text(description, "description")
    if kind in EVIDENCE_OF and evidence_id is None:
        raise InvalidInput(f"A {kind} names the evidence of the {kind} that was run.",
                           code="evidence_required")  # fmt: skip

    def apply(session: Session, incident: Incident, now: datetime) -> uuid.UUID:
        if incident.status in INCIDENT.final:
            raise Conflict(f"A {incident.status} incident takes no more mitigation steps.",
                           code=f"incident_{incident.status}")  # fmt: skip
        when = at or now
        if when > now + SKEW or when < incident.started_at:
            raise InvalidInput("A mitigation step happens after the impact began, and not in "
                               "the future.", code="times_out_of_order")  # fmt: skip
        data = {"kind": kind, "result": result}
        if evidence_id is not None:
            evidence = operations.evidence_in(session, evidence_id)
            wanted = EVIDENCE_OF.get(kind)
            if evidence is None or (wanted and evidence.kind not in wanted):
                raise InvalidInput(
                    f"No {' or '.join(wanted or ('',))} evidence has this id.".replace("  ", " "),
                    code="invalid_evidence",
                )
            data |= {"evidence_id": str(evidence_id), "evidence_result": evidence.result}
        action = IncidentAction(
            incident_id=incident.id, kind=kind, description=description, result=result,
            evidence_id=evidence_id, performed_by=user_of(actor), performed_at=when,
        )  # fmt: skip
        session.add(action)
        session.flush()
        record(session, incident, "mitigation", f"{kind.replace('_', ' ').capitalize()} "
               f"({result}): {description}", actor, when, data=data,
               ref=f"action:{action.id}")  # fmt: skip
        return action.id

    return change(db, incident_id, apply)


def require_incident(session: Session, incident_id: uuid.UUID) -> Incident:
    incident = session.get(Incident, incident_id)
    if incident is None:
        raise NOT_FOUND
    return incident
