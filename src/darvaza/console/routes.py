"""The console's own files: its stylesheet, its script and htmx (vendored, version 2.0.11,
from the npm package htmx.org): served by Darvaza itself, as the content security policy
allows no other origin and no inline script or style."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from fastapi import APIRouter, Response

from darvaza.security.policy import PUBLIC, Requires

router = APIRouter(prefix="/console", tags=["console"])
_STATIC = Path(__file__).parent / "static"
ASSETS = {
    "console.css": (_STATIC / "console.css", "text/css"),
    "console.js": (_STATIC / "console.js", "text/javascript"),
    "htmx.min.js": (_STATIC / "vendor" / "htmx.min.js", "text/javascript"),
}
_LOADED = {name: (path.read_bytes(), media) for name, (path, media) in ASSETS.items()}


def _serve(name: str) -> Callable[[], Response]:
    body, media_type = _LOADED[name]

    def asset() -> Response:
        return Response(
            body, media_type=media_type, headers={"Cache-Control": "public, max-age=3600"}
        )

    asset.__name__ = "asset_" + name.replace(".", "_")
    return asset


for _name, (_path, _media) in ASSETS.items():
    router.add_api_route(
        f"/assets/{_name}",
        _serve(_name),
        methods=["GET"],
        dependencies=[Requires(PUBLIC)],
        responses={200: {"content": {_media: {"schema": {"type": "string"}}}}},
    )
