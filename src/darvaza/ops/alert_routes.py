"""The alert routes file: receivers (a webhook, or email addresses) and routes (which
findings by severity and code, to which receivers, whose owner role, how often a still-open
finding is sent again). Checked when a process starts; a mistake refuses the start with
the line it is on, because an alert that goes nowhere is found only when it is needed."""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from darvaza.checks import SEVERITIES, CheckSet
from darvaza.config import Settings

_DURATION = re.compile(r"^(\d+)(m|h|d)$")
_NAME = r"^[a-z0-9][a-z0-9_-]{0,63}$"


class AlertRoutesError(Exception):
    """The routes file cannot be used; the message names the file and the line."""


# --- The routes file ------------------------------------------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class WebhookReceiver(_Strict):
    url: str = Field(pattern=r"^https?://")


class EmailReceiver(_Strict):
    to: list[str] = Field(min_length=1)

    @field_validator("to")
    @classmethod
    def _addresses(cls, value: list[str]) -> list[str]:
        for address in value:
            if not re.match(r"^[^@\s]+@[^@\s]+\.[^@\s]+$", address):
                raise ValueError(f"not an email address: {address}")
        return value


class Receiver(_Strict):
    name: str = Field(pattern=_NAME)
    webhook: WebhookReceiver | None = None
    email: EmailReceiver | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> Receiver:
        if (self.webhook is None) == (self.email is None):
            raise ValueError("a receiver has exactly one of `webhook` or `email`")
        return self

    @property
    def kind(self) -> str:
        return "webhook" if self.webhook else "email"


class Match(_Strict):
    severity: list[Literal["critical", "high", "medium", "low"]] | None = None
    # Check codes, or patterns such as `payments.*`.
    code: list[str] | None = None

    @field_validator("code")
    @classmethod
    def _patterns(cls, value: list[str] | None) -> list[str] | None:
        for pattern in value or ():
            if not re.match(r"^[a-z_*?]+(\.[a-z_*?]+)?$", pattern):
                raise ValueError(f"not a check code or pattern: {pattern!r}")
        return value


class Route(_Strict):
    name: str = Field(pattern=_NAME)
    owner: Literal["platform_admin", "support_admin", "auditor"]
    match: Match = Match()
    receivers: list[str] = Field(min_length=1)
    repeat_interval: str = "4h"

    @field_validator("repeat_interval")
    @classmethod
    def _duration(cls, value: str) -> str:
        found = _DURATION.match(value)
        if not found or int(found.group(1)) == 0:
            raise ValueError("a duration such as 30m, 4h or 1d")
        return value

    @property
    def repeat(self) -> timedelta:
        found = _DURATION.match(self.repeat_interval)
        assert found is not None  # noqa: S101 (checked by the validator)
        unit = {"m": "minutes", "h": "hours", "d": "days"}[found.group(2)]
        return timedelta(**{unit: int(found.group(1))})

    def matches(self, code: str, severity: str) -> bool:
        if self.match.severity is not None and severity not in self.match.severity:
            return False
        if self.match.code is None:
            return True
        return any(fnmatch.fnmatchcase(code, pattern) for pattern in self.match.code)


class AlertRoutesFile(_Strict):
    receivers: list[Receiver] = Field(min_length=1)
    routes: list[Route] = Field(min_length=1)


@dataclass(frozen=True)
class AlertRoutes:
    receivers: dict[str, Receiver]
    routes: tuple[Route, ...]
    source: str | None = None

    @classmethod
    def none(cls) -> AlertRoutes:
        return cls({}, ())

    def route(self, name: str) -> Route | None:
        return next((route for route in self.routes if route.name == name), None)

    def matching(self, code: str, severity: str) -> list[Route]:
        return [route for route in self.routes if route.matches(code, severity)]


def _line_of(node: yaml.Node, location: Sequence[int | str]) -> int:
    """The line (1-based) of the value at `location` in the composed document."""
    for step in location:
        if isinstance(node, yaml.MappingNode):
            found = next((v for k, v in node.value if k.value == step), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(step, int):
            found = node.value[step] if step < len(node.value) else None
        else:
            found = None
        if found is None:
            break
        node = found
    return node.start_mark.line + 1


def parse_alert_routes(text: str, source: str, settings: Settings) -> AlertRoutes:
    where = source
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f", line {mark.line + 1}" if mark is not None else ""
        raise AlertRoutesError(f"{where}{at}: not YAML ({getattr(exc, 'problem', exc)})") from None
    if node is None or not isinstance(data, dict):
        raise AlertRoutesError(f"{where}, line 1: expected `receivers:` and `routes:`")
    try:
        parsed = AlertRoutesFile.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        location = [step for step in error["loc"] if not str(step).startswith("function-")]
        field = ".".join(str(step) for step in location) or "the file"
        raise AlertRoutesError(
            f"{where}, line {_line_of(node, location)}: {field}: {error['msg']}"
        ) from None
    receivers: dict[str, Receiver] = {}
    for index, receiver in enumerate(parsed.receivers):
        if receiver.name in receivers:
            line = _line_of(node, ["receivers", index, "name"])
            raise AlertRoutesError(f"{where}, line {line}: receiver {receiver.name} twice")
        receivers[receiver.name] = receiver
    names: set[str] = set()
    for index, route in enumerate(parsed.routes):
        if route.name in names:
            line = _line_of(node, ["routes", index, "name"])
            raise AlertRoutesError(f"{where}, line {line}: route {route.name} twice")
        names.add(route.name)
        for position, name in enumerate(route.receivers):
            if name not in receivers:
                line = _line_of(node, ["routes", index, "receivers", position])
                raise AlertRoutesError(
                    f"{where}, line {line}: route {route.name} names an unknown receiver {name}"
                )
    webhooks = any(receiver.webhook for receiver in receivers.values())
    if webhooks and settings.alert_webhook_secret is None and not settings.is_local:
        raise AlertRoutesError(
            f"{where}: a webhook receiver needs DARVAZA_ALERT_WEBHOOK_SECRET to sign its bodies"
        )
    return AlertRoutes(receivers, tuple(parsed.routes), source)


def load_alert_routes(settings: Settings) -> AlertRoutes:
    """The routes in force: none without a routes file; a bad file refuses the start."""
    if not settings.alert_routes_file:
        return AlertRoutes.none()
    path = Path(settings.alert_routes_file)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise AlertRoutesError(f"{path}: cannot be read ({exc.strerror})") from None
    return parse_alert_routes(text, str(path), settings)


def describe_routes(routes: AlertRoutes) -> list[dict[str, Any]]:
    return [
        {
            "route": route.name,
            "owner": route.owner,
            "severity": route.match.severity or list(SEVERITIES),
            "code": route.match.code or ["*"],
            "receivers": [f"{name} ({routes.receivers[name].kind})" for name in route.receivers],
            "repeat_interval": route.repeat_interval,
        }
        for route in routes.routes
    ]


def unrouted_checks(routes: AlertRoutes, checks: CheckSet) -> list[str]:
    """Critical and high checks no route sends anywhere."""
    return [
        check.code
        for check in checks
        if check.severity in ("critical", "high")
        and not routes.matching(check.code, check.severity)
    ]
