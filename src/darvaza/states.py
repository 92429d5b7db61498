"""State machines as tables. Each domain writes its allowed transitions as data (one
`StateMachine` per kind of thing) and changes a state only through `move`, which refuses
an illegal transition and says why. Bulk SQL updates take their `WHERE state IN (...)`
from the same table (`sources_of`), so the table is the one place the rules live.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from darvaza.errors import Conflict


class IllegalTransition(Conflict):
    code = "invalid_state"


class HasState(Protocol):
    state: str


@dataclass(frozen=True)
class StateMachine:
    """`transitions` maps every state to the states it may move to (a final state to
    none)."""

    name: str
    transitions: Mapping[str, frozenset[str]]

    def __post_init__(self) -> None:
        unknown = {t for targets in self.transitions.values() for t in targets} - set(
            self.transitions
        )
        if unknown:
            raise ValueError(f"{self.name}: transitions into undeclared states {unknown}")

    @property
    def states(self) -> tuple[str, ...]:
        return tuple(self.transitions)

    @property
    def final(self) -> frozenset[str]:
        return frozenset(s for s, targets in self.transitions.items() if not targets)

    def allows(self, source: str, target: str) -> bool:
        return target in self.transitions.get(source, frozenset())

    def sources_of(self, target: str) -> tuple[str, ...]:
        """Every state that may move to `target`."""
        return tuple(s for s, targets in self.transitions.items() if target in targets)

    def check(self, source: str, target: str) -> None:
        if not self.allows(source, target):
            raise IllegalTransition(f"A {source} {self.name} cannot become {target}.")

    def move(self, thing: HasState, target: str) -> str:
        """Move `thing` to `target`, or refuse; returns the state it left."""
        source = thing.state
        self.check(source, target)
        thing.state = target
        return source


def table(name: str, **transitions: str) -> StateMachine:
    """`table("job", queued="running cancelled", dead="queued")`: each state with the
    states it may move to, space-separated; states named only as targets are final."""
    moves = {source: frozenset(targets.split()) for source, targets in transitions.items()}
    for targets in list(moves.values()):
        for target in sorted(targets):
            moves.setdefault(target, frozenset())
    return StateMachine(name, moves)
