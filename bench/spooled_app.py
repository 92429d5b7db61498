"""The yardstick for `bench.upload`: the way Darvaza took uploads before, with the
framework in charge. Starlette parses the whole form first (the file is spooled to a
temporary file past 1 MB), then the route copies it into storage."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from starlette.applications import Starlette
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

STORE = Path(os.environ.get("SPOOLED_STORE", "./spooled"))


async def upload(request: Request) -> JSONResponse:
    form = await request.form(max_part_size=2**40)
    file = form["file"]
    assert isinstance(file, UploadFile)
    STORE.mkdir(parents=True, exist_ok=True)
    target = STORE / "upload.bin"
    with target.open("wb") as handle:
        shutil.copyfileobj(file.file, handle, 1024 * 1024)
        handle.flush()
        os.fsync(handle.fileno())
    return JSONResponse({"stored": target.stat().st_size})


app = Starlette(routes=[Route("/upload", upload, methods=["POST"])])
