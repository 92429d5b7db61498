"""Ops checks: what each domain declares in its `checks.py` so that someone is told what is
wrong right now.

A check looks at the database (or the machine) and answers with observations: one per
thing that is wrong, each naming its subject. The ops domain runs the checks, turns
observations into findings (one per fingerprint: the check's code and the subject) and
keeps them; nothing here knows a domain or a table.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal, get_args

from darvaza.parts import Parts

Severity = Literal["critical", "high", "medium", "low"]
SEVERITIES: tuple[str, ...] = get_args(Severity)
# A check's code: `<domain>.<what>`, lower case, as its playbook's file is named.
CODE_PATTERN = r"^[a-z]+\.[a-z_]+$"


def severity_rank(severity: str) -> int:
    """0 for critical, the most urgent; sorts findings worst first."""
    return SEVERITIES.index(severity)


@dataclass(frozen=True)
class Subject:
    """What a finding is about: a payment, a job kind, a disk, the whole platform."""

    type: str
    id: str
    tenant_id: str | None = None


@dataclass(frozen=True)
class Observation:
    subject: Subject
    # What the check saw this time (counts, ages, ids), shown with the finding; bounded.
    details: Mapping[str, Any] = field(default_factory=dict)
    # How many tenants it affects; by default the subject's own tenant, if it has one.
    tenants: int | None = None

    @property
    def tenants_affected(self) -> int:
        if self.tenants is not None:
            return self.tenants
        return 1 if self.subject.tenant_id else 0


@dataclass(frozen=True)
class Outcome:
    """One run's answer. A check that looks at only part of what it watches each run (a
    rolling scan) names what it `examined`: only findings among those subjects can be
    resolved by this run. `state` is kept for its next run (a scan's cursor)."""

    observations: Sequence[Observation]
    examined: frozenset[str] | None = None
    state: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class CheckContext:
    parts: Parts
    now: datetime
    # What the check's previous run asked to keep (`Outcome.state`); empty at first.
    state: Mapping[str, Any] = field(default_factory=dict)
    # Job kinds whose dead jobs some other check answers for (mail, alerts): the generic
    # dead-jobs check leaves them to it, so one failure is one finding.
    claimed_kinds: frozenset[str] = frozenset()


Observe = Callable[[CheckContext], Outcome | Sequence[Observation]]


@dataclass(frozen=True)
class Check:
    code: str
    severity: Severity
    title: str
    every: timedelta
    observe: Observe
    # The platform role that answers it (the alert routes' owner, the summary's column).
    owner: str = "platform_admin"
    claims_job_kinds: tuple[str, ...] = ()

    @property
    def playbook(self) -> str:
        return f"docs/playbooks/{self.code}.md"

    def run(self, context: CheckContext) -> Outcome:
        answer = self.observe(context)
        return answer if isinstance(answer, Outcome) else Outcome(tuple(answer))


class CheckSet:
    """Every domain's checks, collected by the composition root; found by code."""

    def __init__(self, checks: Iterable[Check]) -> None:
        self.by_code: dict[str, Check] = {}
        for check in checks:
            if check.code in self.by_code:
                raise ValueError(f"check {check.code} is declared twice")
            if check.severity not in SEVERITIES:
                raise ValueError(f"check {check.code}: unknown severity {check.severity}")
            self.by_code[check.code] = check

    def __iter__(self) -> Any:
        return iter(self.by_code.values())

    def __len__(self) -> int:
        return len(self.by_code)

    def get(self, code: str) -> Check | None:
        return self.by_code.get(code)


def fingerprint_inputs(code: str, subject: Subject) -> dict[str, str]:
    """What a fingerprint is made of, kept beside it: two observations with these equal
    are one finding. The tenant is not in it: a subject's id already says which."""
    return {"code": code, "subject_type": subject.type, "subject_id": subject.id}


def fingerprint(inputs: Mapping[str, str]) -> str:
    canonical = json.dumps(dict(inputs), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def platform(details: Mapping[str, Any] | None = None, *, name: str = "platform") -> Observation:
    """An observation about the platform as a whole (settings, the worker fleet)."""
    return Observation(Subject("platform", name), details or {})


def count_over(
    rows: Iterable[tuple[str, int]], subject_type: str, threshold: int, **details: Any
) -> list[Observation]:
    """One observation per (name, count) whose count reaches `threshold`."""
    return [
        Observation(
            Subject(subject_type, name), {"count": count, "threshold": threshold, **details}
        )
        for name, count in rows
        if count >= threshold
    ]


__all__ = [
    "CODE_PATTERN",
    "SEVERITIES",
    "Check",
    "CheckContext",
    "CheckSet",
    "Observation",
    "Outcome",
    "Severity",
    "Subject",
    "count_over",
    "fingerprint",
    "fingerprint_inputs",
    "platform",
    "severity_rank",
]
