"""Content's refusals, in the one error shape."""

from __future__ import annotations

from darvaza.errors import DarvazaError


class UnsupportedUpload(DarvazaError):
    status_code = 415
    code = "unsupported_media_type"


class BrokenUpload(DarvazaError):
    status_code = 400
    code = "bad_request"


class RangeRefused(DarvazaError):
    status_code = 416
    code = "range_not_satisfiable"
