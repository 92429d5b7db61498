"""Alert routing: findings sent to the people who own them.

The routes file (`alert_routes.py`) says which findings go to which receivers.

Sending is queued work: the periodic check job creates one `alert_notifications` row per
receiver and an `alerts.deliver` job for it, in one transaction that locks the finding
(so two check jobs never send one alert twice). The job retries with backoff; a receiver
that is down, slow past the timeout, answers an error or redirects fails the attempt and
loses nothing; after the last attempt the row is `dead`, which is a finding of its own
(`alerts.undelivered`). A firing alert is sent again after the route's repeat interval
while the finding stays open (not while acknowledged), and its resolution is sent too.

Webhook bodies follow Prometheus Alertmanager's webhook format (version 4), signed with
HMAC-SHA256 over the exact body in `X-Darvaza-Signature: sha256=<hex>`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session

from darvaza.clock import utcnow
from darvaza.config import Settings
from darvaza.db import Database, lock_row_if_any
from darvaza.jobs.service import enqueue
from darvaza.ops.alert_routes import AlertRoutes, Receiver, Route
from darvaza.ops.models import UNRESOLVED, AlertNotification, OpsFinding
from darvaza.ops.summary import effective_state, first_steps

DELIVER_KIND = "alerts.deliver"
DELIVER_ATTEMPTS = 8  # about an hour of backoff before a delivery is dead
SIGNATURE_HEADER = "X-Darvaza-Signature"
NEVER = "0001-01-01T00:00:00Z"  # Alertmanager's endsAt for an alert still firing
# --- What an alert says -----------------------------------------------------------------------


@dataclass(frozen=True)
class Alert:
    """One alert as receivers get it, made from a finding (or a test)."""

    status: Literal["firing", "resolved"]
    code: str
    severity: str
    title: str
    subject_type: str
    subject_id: str
    tenant_id: str | None
    fingerprint: str
    starts_at: datetime
    ends_at: datetime | None
    details: dict[str, Any]
    finding_id: str | None

    @classmethod
    def of(cls, finding: OpsFinding, status: Literal["firing", "resolved"]) -> Alert:
        return cls(
            status=status,
            code=finding.code,
            severity=finding.severity,
            title=finding.title,
            subject_type=finding.subject_type,
            subject_id=finding.subject_id,
            tenant_id=str(finding.tenant_id) if finding.tenant_id else None,
            fingerprint=finding.fingerprint,
            starts_at=finding.opened_at,
            ends_at=finding.resolved_at if status == "resolved" else None,
            details=dict(finding.details),
            finding_id=str(finding.id),
        )


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def webhook_body(
    alert: Alert, *, route: Route, receiver: str, settings: Settings
) -> dict[str, Any]:
    """Alertmanager's webhook payload (version 4): one group holding one alert."""
    console = f"{settings.public_url.rstrip('/')}/console/ops"
    labels = {
        "alertname": alert.code,
        "severity": alert.severity,
        "subject_type": alert.subject_type,
        "subject_id": alert.subject_id,
        "instance": settings.instance_name,
        "profile": settings.profile.value,
        "owner": route.owner,
        "route": route.name,
    }
    if alert.tenant_id:
        labels["tenant_id"] = alert.tenant_id
    steps = first_steps(alert.code)
    annotations = {
        "summary": alert.title,
        "description": json.dumps(alert.details, sort_keys=True, default=str)[:2000],
        "playbook": f"docs/playbooks/{alert.code}.md",
    }
    if steps:
        annotations["first_step"] = steps[0]
    link = f"{console}/findings/{alert.finding_id}" if alert.finding_id else console
    return {
        "version": "4",
        "groupKey": f'{{}}/{{route="{route.name}"}}:{{alertname="{alert.code}"}}',
        "truncatedAlerts": 0,
        "status": alert.status,
        "receiver": receiver,
        "groupLabels": {"alertname": alert.code},
        "commonLabels": labels,
        "commonAnnotations": annotations,
        "externalURL": console,
        "alerts": [
            {
                "status": alert.status,
                "labels": labels,
                "annotations": annotations,
                "startsAt": _iso(alert.starts_at),
                "endsAt": _iso(alert.ends_at) if alert.ends_at else NEVER,
                "generatorURL": link,
                "fingerprint": alert.fingerprint[:16],
            }
        ],
    }


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def email_text(alert: Alert, route: Route, settings: Settings) -> tuple[str, str]:
    subject = (
        f"[darvaza {settings.instance_name}] {alert.status.upper()} {alert.severity} "
        f"{alert.code}: {alert.title} ({alert.subject_type} {alert.subject_id})"
    )
    lines = [
        f"{alert.title}.",
        "",
        f"Status: {alert.status}",
        f"Severity: {alert.severity}; owner: {route.owner}; route: {route.name}",
        f"Subject: {alert.subject_type} {alert.subject_id}"
        + (f" (tenant {alert.tenant_id})" if alert.tenant_id else ""),
        f"Since: {_iso(alert.starts_at)}",
    ]
    if alert.ends_at:
        lines.append(f"Resolved: {_iso(alert.ends_at)}")
    lines += ["", "Details:", json.dumps(alert.details, indent=2, sort_keys=True, default=str)]
    steps = first_steps(alert.code)
    if steps and alert.status == "firing":
        lines += ["", "First steps:", *(f"{n}. {step}" for n, step in enumerate(steps, 1))]
    lines += [
        "",
        f"Playbook: docs/playbooks/{alert.code}.md",
        f"Instance: {settings.instance_name}",
    ]
    return subject[:250], "\n".join(lines)


class DeliveryFailed(Exception):
    """A receiver did not take the alert; the attempt is retried."""


def send_alert(
    alert: Alert,
    route: Route,
    receiver: Receiver,
    settings: Settings,
    *,
    transport: httpx.BaseTransport | None = None,
) -> str:
    """Deliver one alert to one receiver now; where it went, or `DeliveryFailed`."""
    if receiver.webhook is not None:
        body = json.dumps(
            webhook_body(alert, route=route, receiver=receiver.name, settings=settings),
            separators=(",", ":"),
        ).encode()
        headers = {"Content-Type": "application/json", "User-Agent": "darvaza-alerts"}
        if settings.alert_webhook_secret is not None:
            headers[SIGNATURE_HEADER] = sign(settings.alert_webhook_secret.get_secret_value(), body)
        try:
            with httpx.Client(
                timeout=settings.alert_webhook_timeout_seconds,
                follow_redirects=False,
                transport=transport,
            ) as client:
                answer = client.post(receiver.webhook.url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise DeliveryFailed(f"{receiver.name}: {type(exc).__name__}: {exc}") from None
        if not 200 <= answer.status_code < 300:
            raise DeliveryFailed(f"{receiver.name}: answered {answer.status_code}")
        return receiver.webhook.url
    assert receiver.email is not None  # noqa: S101 (a receiver has one of the two)
    # Imported here: mail sits above the job engine this module also uses.
    from darvaza.mail import compose, deliver

    subject, text = email_text(alert, route, settings)
    try:
        for address in receiver.email.to:
            deliver(settings, compose(settings, {"to": address, "subject": subject, "text": text}))
    except OSError as exc:  # smtplib's errors are OSErrors too
        raise DeliveryFailed(f"{receiver.name}: {type(exc).__name__}: {exc}") from None
    return ", ".join(receiver.email.to)


# --- Deciding what to send, and sending it ------------------------------------------------------


def _queue(session: Session, finding: OpsFinding, route: Route, status: str, now: datetime) -> int:
    made = 0
    for receiver in route.receivers:
        notification = AlertNotification(
            id=uuid.uuid4(), finding_id=finding.id, route=route.name, receiver=receiver,
            status=status, state="pending", attempts=0, created_at=now, updated_at=now,
        )  # fmt: skip
        session.add(notification)
        session.flush()
        enqueue(
            session, DELIVER_KIND, {"notification": str(notification.id)},
            max_attempts=DELIVER_ATTEMPTS,
        )  # fmt: skip
        made += 1
    return made


def _last(session: Session, finding: OpsFinding, route: Route) -> AlertNotification | None:
    return session.scalars(
        select(AlertNotification)
        .where(AlertNotification.finding_id == finding.id, AlertNotification.route == route.name)
        .order_by(AlertNotification.created_at.desc())
        .limit(1)
    ).first()


def _decide(session: Session, finding: OpsFinding, routes: AlertRoutes, now: datetime) -> int:
    made = 0
    state = effective_state(finding, now)
    for route in routes.matching(finding.code, finding.severity):
        last = _last(session, finding, route)
        sent_this_episode = last is not None and last.created_at >= finding.opened_at
        if state == "open":
            due = not sent_this_episode or (
                last is not None
                and last.status == "firing"
                and now - last.created_at >= route.repeat
            )
            if due:
                made += _queue(session, finding, route, "firing", now)
        elif state == "resolved" and last is not None and last.status == "firing":
            # Told it fired: tell it ended (once, whatever the episode it fired in).
            made += _queue(session, finding, route, "resolved", now)
    return made


def dispatch_alerts(
    db: Database, routes: AlertRoutes, *, now: datetime | None = None, lookback: timedelta
) -> int:
    """Queue what the routes ask for: firing alerts for open findings not yet sent this
    episode (or past their repeat interval), resolutions for findings that resolved
    after firing. How many notifications it queued."""
    if not routes.routes:
        return 0
    now = now or utcnow()
    with db.read() as session:
        candidates = list(
            session.scalars(select(OpsFinding.id).where(OpsFinding.state.in_(UNRESOLVED)))
        ) + list(
            session.scalars(
                select(OpsFinding.id).where(
                    OpsFinding.state == "resolved", OpsFinding.updated_at >= now - lookback
                )
            )
        )
    made = 0
    for finding_id in candidates:
        with db.transaction() as session:
            # Locked: two check jobs deciding about one finding take turns.
            finding = lock_row_if_any(session, OpsFinding, OpsFinding.id == finding_id)
            if finding is not None:
                made += _decide(session, finding, routes, now)
    return made


def deliver_notification(
    db: Database,
    routes: AlertRoutes,
    settings: Settings,
    notification_id: uuid.UUID,
    *,
    final_attempt: bool,
    transport: httpx.BaseTransport | None = None,
) -> str:
    """The `alerts.deliver` job: send one notification. A failure raises (the queue
    retries); on the final attempt the notification is marked `dead` first."""
    with db.read() as session:
        notification = session.get(AlertNotification, notification_id)
        if notification is None or notification.state == "sent":
            return "nothing to send"
        finding = session.get(OpsFinding, notification.finding_id)
    route = routes.route(notification.route)
    receiver = routes.receivers.get(notification.receiver)
    error: str | None = None
    if finding is None or route is None or receiver is None:
        error = "its route or receiver is no longer in the routes file"
    else:
        try:
            where = send_alert(
                Alert.of(finding, notification.status),  # type: ignore[arg-type]
                route, receiver, settings, transport=transport,
            )  # fmt: skip
        except DeliveryFailed as exc:
            error = str(exc)
    now = utcnow()
    with db.transaction() as session:
        row = lock_row_if_any(session, AlertNotification, AlertNotification.id == notification_id)
        if row is None:
            return "gone"
        row.attempts += 1
        row.updated_at = now
        if error is None:
            row.state, row.sent_at, row.last_error = "sent", now, None
        else:
            row.last_error = error[:2000]
            if final_attempt:
                row.state = "dead"
    if error is not None:
        raise DeliveryFailed(error)
    return where


def test_alert(route: Route) -> Alert:
    """What `darvaza alerts test` sends: plainly a test, through the real path."""
    now = utcnow()
    return Alert(
        status="firing", code="alerts.test", severity="low",
        title="A test alert: this route reaches its receivers", subject_type="route",
        subject_id=route.name, tenant_id=None,
        fingerprint=hashlib.sha256(f"alerts.test:{route.name}".encode()).hexdigest(),
        starts_at=now, ends_at=None, details={"test": True, "route": route.name},
        finding_id=None,
    )  # fmt: skip
