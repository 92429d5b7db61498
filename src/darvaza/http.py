"""What every route may ask the request for: the assembled parts, one of them by type,
and the client's address."""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request

from darvaza.parts import Parts

T = TypeVar("T")


def get_parts(request: Request) -> Parts:
    parts: Parts = request.app.state.parts
    return parts


PartsDep = Annotated[Parts, Depends(get_parts)]


def part(kind: type[T]) -> Any:
    """A dependency for one assembled piece: `Annotated[Storage, part(Storage)]`."""

    def lookup(request: Request) -> T:
        return get_parts(request).get(kind)

    lookup.__name__ = f"part_{kind.__name__}"
    return Depends(lookup)


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"
