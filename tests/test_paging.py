"""One rule for every list: a `next_cursor` only when another row exists, time ranges
that end before they start are refused, and cursors survive the round trip."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from darvaza.errors import InvalidInput
from darvaza.jobs.queue import enqueue
from darvaza.paging import check_range, page_of, read_time_cursor, time_cursor
from tests.support.world import Api, admin_token, error_code


def test_a_full_page_with_nothing_after_it_has_no_next_cursor() -> None:
    exact = page_of([1, 2, 3], 3, str)
    assert (exact.items, exact.next_cursor) == ([1, 2, 3], None)
    more = page_of([1, 2, 3, 4], 3, str)
    assert (more.items, more.next_cursor) == ([1, 2, 3], "3")
    assert page_of([], 3, str).next_cursor is None


def test_a_range_ending_before_it_starts_is_refused() -> None:
    now = datetime.now(UTC)
    check_range(now, now)  # empty, but not wrong
    check_range(None, now)
    with pytest.raises(InvalidInput) as refused:
        check_range(now, now - timedelta(seconds=1))
    assert refused.value.code == "invalid_range"


def test_a_time_cursor_names_the_same_row_after_the_round_trip() -> None:
    at, row = datetime(2026, 12, 2, 10, 0, 0, 123456, tzinfo=UTC), uuid.uuid4()
    assert read_time_cursor(time_cursor(at, row)) == (at, row)
    with pytest.raises(InvalidInput):
        read_time_cursor("1_not-hex")


def test_lists_over_http_follow_the_rule(api: Api) -> None:
    token = admin_token(api.db)
    with api.db.transaction() as session:
        for n in range(4):
            enqueue(session, "test.page", {"n": n}, max_attempts=1)
    first = api.call("GET", "/api/v1/admin/jobs?kind=test.page&limit=2", token).json()
    assert len(first["items"]) == 2
    assert first["next_cursor"] is not None
    second = api.call(
        "GET", f"/api/v1/admin/jobs?kind=test.page&limit=2&cursor={first['next_cursor']}", token
    ).json()
    assert len(second["items"]) == 2
    assert second["next_cursor"] is None  # exactly full, and nothing after it
    seen = {item["id"] for item in first["items"] + second["items"]}
    assert len(seen) == 4
    for path in ("/api/v1/admin/jobs", "/api/v1/admin/audit", "/api/v1/admin/payments"):
        backwards = api.call(
            "GET", f"{path}?since=2026-12-02T10:00:00Z&until=2026-12-01T10:00:00Z", token
        )
        assert (backwards.status_code, error_code(backwards)) == (422, "invalid_range"), path
