"""A real SMTP server (aiosmtpd) for tests, and an app that mails through it; the queued
mail jobs run through the worker's own code."""

from __future__ import annotations

import email
import re
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.message import Message
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from starlette.types import ASGIApp

from darvaza.assembly import WORK
from darvaza.clock import utcnow
from darvaza.db import Database
from darvaza.jobs.queue import claim
from darvaza.jobs.registry import run_claimed
from tests.support.jobs import parts
from tests.support.world import Api, make_app


@dataclass
class Inbox:
    """What the SMTP server received."""

    messages: list[Message] = field(default_factory=list)
    refuse: bool = False

    async def handle_DATA(self, _server: Any, _session: Any, envelope: Any) -> str:
        if self.refuse:
            return "451 try again later"
        self.messages.append(email.message_from_bytes(envelope.content))
        return "250 OK"

    def to(self, address: str) -> list[Message]:
        return [m for m in self.messages if m["To"] == address]


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


@dataclass
class Mailing:
    api: Api
    inbox: Inbox
    settings: dict[str, object]

    def deliver(self) -> None:
        """Run the queued mail jobs the way the worker does."""
        made = parts(self.api.db, **self.settings)
        for job in claim(self.api.db, "test-mailer", limit=100, now=utcnow()):
            run_claimed(made, WORK.registry, job)

    def link_token(self, to: str) -> str:
        self.deliver()
        body = self.inbox.to(to)[-1].get_payload(decode=True)
        assert isinstance(body, bytes)
        found = re.search(r"token=(dzo_[A-Za-z0-9_-]{43})", body.decode())
        assert found, body
        return found.group(1)


@pytest.fixture
def mailing(
    db: Database,
    database_url: str,
    serve: Callable[[ASGIApp], str],
    smtp: tuple[Inbox, int],
) -> Iterator[Mailing]:
    inbox, port = smtp
    settings: dict[str, object] = {
        "database_url": database_url,
        "mail_backend": "smtp",
        "smtp_host": "127.0.0.1",
        "smtp_port": port,
        "smtp_tls": "none",
        "mail_from": "Darvaza <members@darvaza.test>",
        "public_url": "https://members.example.com",
    }
    api = Api(serve(make_app(**settings)), db)  # type: ignore[arg-type]
    yield Mailing(api, inbox, settings)
    api.close()
