"""What the current request (or job) is, for log lines and audit events.

Set once by the HTTP middleware; read by the audit log so every event carries the request
id and client address without each service passing them along.
"""

from __future__ import annotations

from contextvars import ContextVar

request_id_var: ContextVar[str | None] = ContextVar("darvaza_request_id", default=None)
client_ip_var: ContextVar[str | None] = ContextVar("darvaza_client_ip", default=None)


def current_request_id() -> str | None:
    return request_id_var.get()


def current_client_ip() -> str | None:
    return client_ip_var.get()
