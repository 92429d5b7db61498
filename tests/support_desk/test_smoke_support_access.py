"""`darvaza smoke support-access` against a real server: it passes on Darvaza, and it
notices a server that lets support in without a grant or leaves a call out of the log."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from starlette.types import ASGIApp

from darvaza.db import Database
from darvaza.operations.smoke.support_access import run_support_access
from tests.support.world import admin_token, make_app


def test_support_access_passes_and_leaves_no_open_ticket(
    db: Database, database_url: str, serve: Callable[[ASGIApp], str]
) -> None:
    url = serve(make_app(database_url))
    token = admin_token(db)
    for _ in range(2):  # the fixture's accounts are reused
        report = run_support_access(url, token)
        assert report.deviations == []
        assert report.checks >= 6
    from uuid import uuid4

    from darvaza.support.service import Desk, list_tickets

    open_tickets = list_tickets(db, Desk("support", uuid4()), states=["new", "open"], limit=10)
    assert open_tickets.items == []


def test_support_access_notices_a_call_left_out_of_the_log(
    db: Database, database_url: str, serve: Callable[[ASGIApp], str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    from darvaza.support import service as support

    url = serve(make_app(database_url))
    monkeypatch.setattr(support, "record_grant_use", lambda _db, _use: None)
    report = run_support_access(url, admin_token(db))
    assert any("action log" in d for d in report.deviations), report.deviations
