"""Email: queued in the transaction of the change that wants it, sent by the worker.

A request never talks to a mail server: `queue_mail` adds a `mail.send` job in the
caller's transaction (a rolled-back change sends nothing), and the worker sends it with
retries and backoff; a mail that cannot be delivered ends as a dead job an operator can
see and retry. In `local` mail is written as `.eml` files under `./var/mail/`, so
`make run` needs no mail server.

A mail that carries a one-time token (a password reset link) names the token's purpose
and row instead of the token: the job derives it from the secret key when it sends
(`security.tokens.derived_token`), so no token is ever stored, not even in the queue.
"""

from __future__ import annotations

import secrets
import smtplib
import ssl
from dataclasses import dataclass
from datetime import timedelta
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from darvaza.checks import Check, CheckContext, Observation
from darvaza.clock import utcnow
from darvaza.config import Settings
from darvaza.errors import N_
from darvaza.jobs.checks import dead_jobs_by_kind
from darvaza.jobs.queue import enqueue
from darvaza.jobs.registry import JobContext, JobKind, Tasks
from darvaza.security.tokens import derived_token

SEND_MAIL = "mail.send"
TOKEN_PLACEHOLDER = "{token}"
# A mail server that refuses for a while is retried over about an hour before it is dead.
MAIL_ATTEMPTS = 8


@dataclass(frozen=True)
class OneTimeSecret:
    """Which one-time token to put where the text says `{token}`."""

    purpose: str
    ident: str


def queue_mail(
    session: Session,
    *,
    to: str,
    subject: str,
    text: str,
    secret: OneTimeSecret | None = None,
) -> int | None:
    payload: dict[str, Any] = {"to": to, "subject": subject, "text": text}
    if secret is not None:
        payload["secret"] = {"purpose": secret.purpose, "ident": secret.ident}
    return enqueue(session, SEND_MAIL, payload, max_attempts=MAIL_ATTEMPTS)


def compose(settings: Settings, payload: dict[str, Any]) -> EmailMessage:
    text = str(payload["text"])
    secret = payload.get("secret")
    if isinstance(secret, dict):
        token = derived_token(
            settings.effective_secret_key, str(secret["purpose"]), str(secret["ident"])
        )
        text = text.replace(TOKEN_PLACEHOLDER, token)
    message = EmailMessage()
    message["From"] = settings.mail_from
    message["To"] = str(payload["to"])
    message["Subject"] = str(payload["subject"])
    message["Date"] = formatdate(utcnow().timestamp(), usegmt=True)
    message["Message-ID"] = make_msgid(domain=settings.mail_from.rsplit("@", 1)[-1].strip(">"))
    message.set_content(text, cte="8bit")  # readable as it stands; lines stay short
    return message


def deliver(settings: Settings, message: EmailMessage) -> str:
    """Hand one message to the configured backend; where it went (a file, or the server)."""
    if settings.effective_mail_backend == "files":
        folder = Path(settings.mail_dir)
        folder.mkdir(parents=True, exist_ok=True)
        name = f"{utcnow():%Y%m%dT%H%M%S}-{secrets.token_hex(4)}.eml"
        temporary = folder / f".{name}.part"
        temporary.write_bytes(bytes(message))
        temporary.rename(folder / name)  # a reader never sees half a mail
        return str(folder / name)
    host = settings.smtp_host or "localhost"
    timeout = settings.smtp_timeout_seconds
    context = ssl.create_default_context()
    smtp: smtplib.SMTP
    if settings.smtp_tls == "tls":
        smtp = smtplib.SMTP_SSL(host, settings.smtp_port, timeout=timeout, context=context)
    else:
        smtp = smtplib.SMTP(host, settings.smtp_port, timeout=timeout)
    with smtp:
        if settings.smtp_tls == "starttls":
            smtp.starttls(context=context)
        if settings.smtp_username:
            password = settings.smtp_password.get_secret_value() if settings.smtp_password else ""
            smtp.login(settings.smtp_username, password)
        smtp.send_message(message)
    return f"smtp://{host}:{settings.smtp_port}"


def send_queued_mail(settings: Settings, payload: dict[str, Any]) -> dict[str, str]:
    """The `mail.send` job: compose and deliver. An error (the server refused or did not
    answer) fails the attempt, and the queue retries it."""
    deliver(settings, compose(settings, payload))
    return {"to": str(payload.get("to", "")), "backend": settings.effective_mail_backend}


def send_mail(context: JobContext, payload: dict[str, Any]) -> dict[str, str]:
    return send_queued_mail(context.settings, payload)


# Mail is sent when a change queues it, never on a schedule.
TASKS = Tasks(kinds=(JobKind(SEND_MAIL, send_mail, timeout=timedelta(minutes=2)),))


def undelivered(context: CheckContext) -> list[Observation]:
    """Mail whose every attempt failed: someone did not get a reset link, a verification
    or an invitation."""
    return dead_jobs_by_kind(
        context.parts.db,
        hours=context.parts.settings.ops_lookback_hours,
        kinds=frozenset({SEND_MAIL}),
        now=context.now,
    )


CHECKS = (
    Check(
        "mail.undelivered",
        "high",
        N_("Mail could not be delivered"),
        timedelta(minutes=1),
        undelivered,
        claims_job_kinds=(SEND_MAIL,),
    ),
)
