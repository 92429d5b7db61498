"""The readiness report: every proof of `proofs.PROOFS` judged from the evidence and the
live state, each `pass`, `fail`, `stale`, `missing` or `exempt`, and the verdict.

Judging is pure (the facts, the newest evidence and the exemptions in; the report out),
so a test can drive every proof through every answer with an injected clock.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Literal

from darvaza.errors import N_, Phrase
from darvaza.readiness.models import ReadinessExemption
from darvaza.readiness.proofs import PROOFS, EvidenceRule, Facts, Proof

Status = Literal["pass", "fail", "stale", "missing", "exempt"]
# The worst answer of a proof's rules is the proof's answer.
WORST_FIRST: tuple[Status, ...] = ("fail", "missing", "stale", "pass")
READY, NOT_READY = "READY", "NOT_READY"


@dataclass(frozen=True)
class EvidenceUse:
    """One evidence record a proof read: which, how it ended, where and how old."""

    id: uuid.UUID
    kind: str
    name: str
    result: str
    recorded_at: datetime
    instance_profile: str
    instance_name: str
    revision: str | None
    source: str = "local"  # or staging's URL, when read from staging

    def age_seconds(self, now: datetime) -> float:
        return max(0.0, (now - self.recorded_at).total_seconds())


# The newest record of a rule's kind and name where the rule looks (None: there is none),
# or a reason it could not be read (staging unreachable, not configured).
Lookup = Callable[[EvidenceRule, str], "EvidenceUse | str | None"]


@dataclass(frozen=True)
class Exemption:
    id: uuid.UUID
    proof: str
    reason: str
    granted_by: str
    granted_at: datetime
    expires_at: datetime
    withdrawn_at: datetime | None
    withdrawn_by: str | None
    withdraw_reason: str | None

    @classmethod
    def of(cls, row: ReadinessExemption) -> Exemption:
        return cls(
            row.id, row.proof, row.reason, row.granted_by, row.granted_at, row.expires_at,
            row.withdrawn_at, row.withdrawn_by, row.withdraw_reason,
        )  # fmt: skip

    def state(self, now: datetime) -> Literal["active", "expired", "withdrawn"]:
        if self.withdrawn_at is not None:
            return "withdrawn"
        return "active" if self.expires_at > now else "expired"


@dataclass(frozen=True)
class ProofResult:
    key: str
    title: str
    description: str
    status: Status
    evidence: list[EvidenceUse] = field(default_factory=list)
    blockers: list[Phrase] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)
    exemption: Exemption | None = None

    @property
    def holds(self) -> bool:
        return self.status in ("pass", "exempt")


@dataclass(frozen=True)
class Report:
    generated_at: datetime
    instance_profile: str
    instance_name: str
    version: str
    revision: str | None
    for_profile: str
    proofs: list[ProofResult]

    @property
    def verdict(self) -> str:
        return READY if all(proof.holds for proof in self.proofs) else NOT_READY

    @property
    def blocking(self) -> list[ProofResult]:
        return [proof for proof in self.proofs if not proof.holds]


# Why a rule's evidence does not count: by what was found, and whether it was staging's.
_WHY: dict[tuple[str, bool], str] = {
    ("unreadable", False): N_("No %(evidence)s evidence could be read: %(problem)s"),
    ("unreadable", True): N_("No %(evidence)s evidence could be read from staging: %(problem)s"),
    ("none", False): N_("No %(evidence)s evidence on record."),
    ("none", True): N_("No %(evidence)s evidence from staging on record."),
    ("not passed", False): N_(
        "The newest %(evidence)s evidence did not pass: %(result)s (%(id)s)."
    ),
    ("not passed", True): N_(
        "The newest %(evidence)s evidence from staging did not pass: %(result)s (%(id)s)."
    ),
    ("too old", False): N_("The newest %(evidence)s evidence is older than %(window)s (%(id)s)."),
    ("too old", True): N_(
        "The newest %(evidence)s evidence from staging is older than %(window)s (%(id)s)."
    ),
}
# A proof's answer as the stop names it.
_ANSWERS = {"fail": N_("fails"), "missing": N_("is missing"), "stale": N_("is stale")}


def _window(window: timedelta) -> Phrase:
    hours = int(window.total_seconds() // 3600)
    if hours % 24 == 0 and hours > 24:
        return Phrase(N_("%(days)s days"), {"days": hours // 24})
    return Phrase(N_("%(hours)s hours"), {"hours": hours})


def _judge_rule(
    rule: EvidenceRule, name: str, found: EvidenceUse | str | None, facts: Facts
) -> tuple[Status, Phrase | None]:
    """One name of an evidence rule: its answer and, unless it passes, why."""

    def why(what: str, **values: object) -> Phrase:
        return Phrase(_WHY[what, rule.staging], {"evidence": f"{rule.kind}/{name}", **values})

    if isinstance(found, str):
        return "missing", why("unreadable", problem=found)
    if found is None:
        return "missing", why("none")
    if found.result != "passed":
        return "fail", why("not passed", result=found.result, id=str(found.id))
    window = rule.max_age(facts.settings)
    if facts.now - found.recorded_at > window:
        return "stale", why("too old", window=_window(window), id=str(found.id))
    return "pass", None


def _command(rule: EvidenceRule, name: str, facts: Facts) -> str:
    staging = facts.settings.readiness_staging_url or "<staging URL>"
    return rule.command.format(name=name, staging=staging)


def judge_proof(
    proof: Proof, facts: Facts, lookup: Lookup, exemption: Exemption | None
) -> ProofResult:
    statuses: list[Status] = []
    used: list[EvidenceUse] = []
    blockers: list[Phrase] = []
    commands: list[str] = []
    for rule in proof.evidence:
        names = rule.names(facts)
        if not names:
            statuses.append("missing")
            blockers.append(
                Phrase(N_("Nothing to test for %(kind)s: none is defined."), {"kind": rule.kind})
            )
        for name in names:
            found = lookup(rule, name)
            if isinstance(found, EvidenceUse):
                used.append(found)
            status, why = _judge_rule(rule, name, found, facts)
            statuses.append(status)
            if why is not None:
                blockers.append(why)
                commands.append(_command(rule, name, facts))
    for live_rule, command in proof.live:
        held_back = live_rule(facts)
        if held_back:
            statuses.append("fail")
            blockers.extend(held_back)
            commands.append(command)
    status = next((s for s in WORST_FIRST if s in statuses), "pass")
    return _with_exemption(
        ProofResult(proof.key, proof.title, proof.description, status, used, blockers,
                    list(dict.fromkeys(commands))),
        exemption, facts.now,
    )  # fmt: skip


def _with_exemption(result: ProofResult, exemption: Exemption | None, now: datetime) -> ProofResult:
    """A proof that does not pass is `exempt` while its newest exemption stands, and
    `fail` once that exemption ran out without being withdrawn (a lapsed stand-in is a
    failure, never a silent return to `missing`)."""
    if result.status == "pass" or exemption is None:
        return result
    state = exemption.state(now)
    if state == "active":
        return replace(result, status="exempt", exemption=exemption)
    if state == "expired":
        lapsed = Phrase(
            N_("The exemption by %(who)s expired at %(when)s."),
            {"who": exemption.granted_by, "when": exemption.expires_at},
        )
        return replace(result, status="fail", exemption=exemption,
                        blockers=[lapsed, *result.blockers])  # fmt: skip
    return result


def judge_stop(proof: Proof, others: list[ProofResult]) -> ProofResult:
    """The production-claim stop: it holds only when every other proof does."""
    short = [other for other in others if not other.holds]
    blockers = [
        Phrase(
            N_("%(proof)s %(answer)s."),
            {"proof": Phrase(other.title), "answer": Phrase(_ANSWERS[other.status])},
        )
        for other in short
    ]
    return ProofResult(
        proof.key, proof.title, proof.description, "fail" if short else "pass",
        blockers=blockers,
        commands=["darvaza readiness"] if short else [],
    )  # fmt: skip


def judge_all(
    facts: Facts, lookup: Lookup, exemptions: Mapping[str, Exemption]
) -> list[ProofResult]:
    judged = [
        judge_proof(proof, facts, lookup, exemptions.get(proof.key))
        for proof in PROOFS
        if not proof.stop
    ]
    return [
        judge_stop(proof, judged) if proof.stop else next(r for r in judged if r.key == proof.key)
        for proof in PROOFS
    ]
