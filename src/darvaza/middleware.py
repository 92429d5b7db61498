"""The one piece of middleware every HTTP request passes through.

It is plain ASGI (no buffering, so streamed downloads stay streamed) and does, in order:
give the request an id, limit the size of its body, add the security headers and the
request id to the answer, turn an unexpected exception into a 500 in the error shape (the
traceback goes to the log, never to the client), then write one log line and record the
request's metrics. A `before_answer` hook sees each answer's status before the client
does (support grants' action log is written there, so no answer given under a grant goes
unlogged).
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from darvaza.context import client_ip_var, request_id_var
from darvaza.errors import BodyTooLarge, error_body
from darvaza.logs import get_logger
from darvaza.metrics import UNMATCHED_ROUTE, Metrics

REQUEST_ID_HEADER = "x-request-id"
# An id from the caller is kept only if it is short and plain, so it cannot forge log lines.
_ACCEPTABLE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{8,64}$")

log = get_logger("darvaza.http")


class RequestContextMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        metrics: Metrics,
        response_headers: list[tuple[bytes, bytes]],
        max_body_bytes: int,
        route_body_limits: dict[str, int] | None = None,
        before_answer: Callable[[Scope, int], Awaitable[None]] | None = None,
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.response_headers = response_headers
        self.max_body_bytes = max_body_bytes
        self.route_body_limits = route_body_limits or {}
        self.before_answer = before_answer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        started_at = time.perf_counter()
        request_id = _request_id_from(scope)
        client = scope.get("client")
        request_id_var.set(request_id)
        client_ip_var.set(client[0] if client else None)
        status = 500
        response_started = False
        hooked = False
        extra_headers = [*self.response_headers, (REQUEST_ID_HEADER.encode(), request_id.encode())]

        async def send_with_headers(message: Message) -> None:
            nonlocal status, response_started, hooked
            if message["type"] == "http.response.start":
                if self.before_answer is not None and not hooked:
                    # Once: raising here answers 500 instead (nothing has gone out yet).
                    hooked = True
                    await self.before_answer(scope, message["status"])
                response_started = True
                status = message["status"]
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers.extend(h for h in extra_headers if h[0] not in present)
                if b"cache-control" not in present:
                    # API answers hold personal data; nothing in between should keep them.
                    headers.append((b"cache-control", b"no-store"))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, self._limited(scope, receive), send_with_headers)
        except Exception:
            log.exception("unhandled_error", method=scope["method"], route=route_of(scope))
            if response_started:
                raise  # the client already has a partial answer; let the server drop it
            status = 500
            await _send_error(send_with_headers, 500, request_id)
        finally:
            duration = time.perf_counter() - started_at
            route = route_of(scope)
            self.metrics.observe_request(scope["method"], route, status, duration)
            log.info(
                "request",
                method=scope["method"],
                route=route,
                status=status,
                duration_ms=round(duration * 1000, 2),
                client_ip=client[0] if client else None,
            )

    def _limited(self, scope: Scope, receive: Receive) -> Receive:
        """`receive`, refusing a body past the limit: declared up front or counted as read.

        The limit is looked up when the body is first read, after routing, so a route
        template may have its own (uploads) instead of the application's default.
        """
        received = 0

        async def receive_limited() -> Message:
            nonlocal received
            limit = self.route_body_limits.get(route_of(scope), self.max_body_bytes)
            declared = _declared_length(scope)
            if declared is not None and declared > limit:
                raise BodyTooLarge(limit)
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        return receive_limited


def _request_id_from(scope: Scope) -> str:
    for name, value in scope.get("headers", []):
        if name == REQUEST_ID_HEADER.encode():
            candidate: str = value.decode("latin-1")
            if _ACCEPTABLE_REQUEST_ID.match(candidate):
                return candidate
            break
    return uuid.uuid4().hex


def route_of(scope: Scope) -> str:
    """The route template (`/api/v1/tenants/{tenant}`), never the raw path: paths can hold
    tokens, and raw paths would give metrics one series per URL."""
    route = scope.get("route")
    # `path_format` drops convertors (`{job_id:int}` is `{job_id}`), as the contract does.
    path: object = getattr(route, "path_format", None) or getattr(route, "path", None)
    return path if isinstance(path, str) else UNMATCHED_ROUTE


def _declared_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _send_error(send: Send, status: int, request_id: str) -> None:
    body: dict[str, Any] = error_body(
        "internal_error", "Something went wrong on our side; it has been logged.", request_id
    )
    payload = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})
