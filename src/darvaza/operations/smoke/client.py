"""What every smoke check shares: an HTTP client that is polite about rate limits, and a
report of deviations."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

# A smoke run waits out a rate limit rather than failing on it, up to this long in all.
MAX_RATE_LIMIT_WAIT_SECONDS = 180.0


@dataclass
class Report:
    name: str
    checks: int = 0
    deviations: list[str] = field(default_factory=list)
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    finished_at: datetime | None = None

    @property
    def seconds(self) -> float:
        end = self.finished_at or datetime.now(UTC)
        return (end - self.started_at).total_seconds()

    def check(self, ok: bool, deviation: str) -> bool:
        self.checks += 1
        if not ok:
            self.deviations.append(deviation)
        return ok

    @property
    def ok(self) -> bool:
        return not self.deviations

    def summary(self) -> str:
        if self.ok:
            return f"{self.name}: {self.checks} checks, no deviation"
        lines = [f"{self.name}: {len(self.deviations)} deviation(s) in {self.checks} checks"]
        lines += [f"  - {deviation}" for deviation in self.deviations]
        return "\n".join(lines)


def run_smoke(name: str, base_url: str, steps: Callable[[SmokeClient, Report], None]) -> Report:
    """Run a check's steps; a step that stops the check, or a server that cannot be
    reached, becomes a deviation rather than a traceback."""
    report = Report(name)
    client = SmokeClient(base_url)
    try:
        steps(client, report)
    except SmokeFailed as exc:
        report.deviations.append(str(exc))
    except httpx.HTTPError as exc:
        report.deviations.append(f"could not talk to {base_url}: {exc}")
    finally:
        client.close()
        report.finished_at = datetime.now(UTC)
    return report


def wait_until_ready(
    base_url: str, seconds: float, *, gone: Callable[[], str | None] = lambda: None
) -> None:
    """Until `base_url`'s `/ready` answers 200 (the database answers and no migration is
    pending for the build that serves it). SmokeFailed after `seconds`, or at once when
    `gone` says why the instance will never answer."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            if httpx.get(base_url.rstrip("/") + "/ready", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if (why := gone()) is not None:
            raise SmokeFailed(why)
        if time.monotonic() > deadline:
            raise SmokeFailed(f"{base_url} was not ready within {seconds:g} s.")
        time.sleep(0.2)


def record_evidence(base_url: str, admin_token: str, report: Report) -> str:
    """Record a finished check as `smoke` evidence on the instance it checked, through
    its API (so the evidence carries that instance's profile, name and build); the new
    record's id, or a `SmokeFailed` saying why it could not be recorded."""
    body = {
        "kind": "smoke",
        "name": report.name,
        "result": "passed" if report.ok else "failed",
        "details": {
            "checks": report.checks,
            "deviations": [deviation[:500] for deviation in report.deviations[:20]],
            "deviation_count": len(report.deviations),
            "seconds": round(report.seconds, 2),
            "base_url": base_url,
        },
        "started_at": report.started_at.isoformat(),
        "finished_at": (report.finished_at or datetime.now(UTC)).isoformat(),
    }
    client = SmokeClient(base_url)
    try:
        made = client.expect(
            201, "POST", "/api/v1/admin/evidence", token=admin_token, json=body
        ).json()
    except httpx.HTTPError as exc:
        raise SmokeFailed(f"could not record the evidence at {base_url}: {exc}") from None
    finally:
        client.close()
    return str(made["id"])


class SmokeFailed(Exception):
    """A step the rest of the check depends on went wrong; the message says which."""


class SmokeClient:
    """httpx with no cookie memory (each call says exactly which cookies it sends) and
    patience for 429s."""

    def __init__(self, base_url: str, *, timeout: float = 30.0) -> None:
        self.http = httpx.Client(base_url=base_url.rstrip("/"), timeout=timeout)
        self.waited = 0.0

    def request(
        self,
        method: str,
        path: str,
        *,
        token: str | None = None,
        headers: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        sent = dict(headers or {})
        if token is not None:
            sent["Authorization"] = f"Bearer {token}"
        cookies = kwargs.pop("cookies", None) or {}
        while True:
            self.http.cookies.clear()  # only the cookies this call names, never leftovers
            for name, value in cookies.items():
                self.http.cookies.set(name, value)
            response = self.http.request(method, path, headers=sent, **kwargs)
            if response.status_code != 429:
                return response
            wait = float(response.headers.get("retry-after", "5"))
            if self.waited + wait > MAX_RATE_LIMIT_WAIT_SECONDS:
                return response
            self.waited += wait
            time.sleep(wait)

    def expect(
        self, status: int | tuple[int, ...], method: str, path: str, **kwargs: Any
    ) -> httpx.Response:
        """A request the check relies on: anything but `status` (one of them) stops the check."""
        response = self.request(method, path, **kwargs)
        if response.status_code not in (status if isinstance(status, tuple) else (status,)):
            raise SmokeFailed(
                f"{method} {path} answered {response.status_code}, expected {status}: "
                f"{response.text[:300]}"
            )
        return response

    def close(self) -> None:
        self.http.close()
