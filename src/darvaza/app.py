"""The FastAPI application factory: middleware, routers and error handlers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from http import HTTPStatus
from typing import Any

import anyio
from fastapi import FastAPI, Request, Response, params
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import iter_route_contexts
from sqlalchemy.exc import InterfaceError, OperationalError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import compile_path
from starlette.types import Scope

from darvaza import __version__
from darvaza.assembly import (
    CHECKS,
    PAGE_ROUTERS,
    assemble,
    start_worker_thread,
    stop_worker_thread,
)
from darvaza.audit.metrics import SealerCollector
from darvaza.audit.routes import router as audit_router
from darvaza.billing.routes import routers as billing_routers
from darvaza.config import Settings, load_settings, require_safe
from darvaza.console.render import CONSOLE
from darvaza.content.pages import UPLOAD_PAGES
from darvaza.content.routes import UPLOAD_ROUTES
from darvaza.content.routes import routers as content_routers
from darvaza.context import current_request_id
from darvaza.db import Database
from darvaza.errors import (
    PAGES_PREFIX,
    DarvazaError,
    Unavailable,
    code_for_status,
    error_body,
    validation_details,
)
from darvaza.exports.routes import routers as exports_routers
from darvaza.identity.routes import admin_router as identity_admin_router
from darvaza.identity.routes import router as identity_router
from darvaza.incidents.metrics import IncidentsCollector
from darvaza.incidents.routes import routers as incidents_routers
from darvaza.jobs.metrics import QueueCollector
from darvaza.jobs.routes import router as jobs_router
from darvaza.logs import configure_logging, get_logger
from darvaza.metrics import Metrics
from darvaza.middleware import RequestContextMiddleware, route_of
from darvaza.operations.metrics import BackupsCollector
from darvaza.operations.routes import backups_router
from darvaza.operations.routes import fixture_router as smoke_fixture_router
from darvaza.operations.routes import router as operations_router
from darvaza.ops.metrics import FindingsCollector
from darvaza.ops.routes import admin as ops_admin_router
from darvaza.ops.routes import router as ops_router
from darvaza.readiness.routes import routers as readiness_routers
from darvaza.security.grants import ACTING_UNDER_GRANT, ActingUnderGrant
from darvaza.security.headers import security_headers
from darvaza.security.openapi import annotate_openapi
from darvaza.support import service as support
from darvaza.support.routes import routers as support_routers
from darvaza.tenants.routes import admin_router as tenants_admin_router
from darvaza.tenants.routes import invitations_router
from darvaza.tenants.routes import router as tenants_router

API_PREFIX = "/api/v1"
# Rules that hold for every operation, which no one schema states.
API_DESCRIPTION = (
    "Every error is `{error: {code, message, request_id}}`. Text anywhere in a request "
    "(a body, a query, a form) may not hold the NUL character (U+0000): it is refused "
    "with 422 `invalid_text`."
)
DATABASE_RETRY_AFTER_SECONDS = 5
_FORM_MEDIA_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded")


ROUTERS = (
    ops_router,
    ops_admin_router,
    identity_router,
    identity_admin_router,
    tenants_router,
    tenants_admin_router,
    invitations_router,
    audit_router,
    *billing_routers,
    *content_routers,
    *support_routers,
    *incidents_routers,
    *readiness_routers,
    *exports_routers,
    jobs_router,
    operations_router,
    smoke_fixture_router,
    backups_router,
    *PAGE_ROUTERS,
)


def create_app(
    settings: Settings | None = None, *, db: Database | None = None, run_worker: bool = False
) -> FastAPI:
    """Build the app. Unsafe settings for the profile stop it here, whatever starts it.
    With `run_worker`, a job worker runs in a thread of this process while it serves."""
    settings = settings if settings is not None else load_settings()
    require_safe(settings)
    configure_logging(settings.log_level)
    owns_db = db is None
    database = db if db is not None else Database.from_settings(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        worker = start_worker_thread(app.state.parts) if run_worker else None
        yield
        if worker is not None:
            await anyio.to_thread.run_sync(stop_worker_thread, worker)
        if owns_db:
            database.dispose()

    app = FastAPI(
        title="Darvaza",
        version=__version__,
        description=API_DESCRIPTION,
        docs_url=None,  # Swagger UI loads from a CDN; the JSON contract is enough
        redoc_url=None,
        openapi_url=f"{API_PREFIX}/openapi.json",
        lifespan=lifespan,
    )
    metrics = Metrics()
    metrics.registry.register(QueueCollector(database, settings.worker_stale_after))
    metrics.registry.register(SealerCollector(database))
    metrics.registry.register(FindingsCollector(database, CHECKS))
    metrics.registry.register(BackupsCollector(database))
    metrics.registry.register(IncidentsCollector(database))
    app.state.parts = assemble(settings, database, metrics=metrics)
    app.add_middleware(
        RequestContextMiddleware,
        metrics=metrics,
        response_headers=security_headers(settings),
        max_body_bytes=settings.max_request_body_bytes,
        route_body_limits=dict.fromkeys(
            (*UPLOAD_ROUTES, *UPLOAD_PAGES), settings.content_max_upload_bytes
        ),
        before_answer=_grant_use_logger(database),
    )
    _install_error_handlers(app)
    for router in ROUTERS:
        app.include_router(router)
    app.openapi = annotate_openapi(app)  # type: ignore[method-assign]
    return app


def _error_response(
    status: int,
    code: str,
    message: str,
    *,
    headers: dict[str, str] | None = None,
    details: list[dict[str, Any]] | None = None,
) -> JSONResponse:
    return JSONResponse(
        error_body(code, message, current_request_id(), details),
        status_code=status,
        headers=headers,
    )


def _refusal(request: Request, status: int, code: str, message: str, **extra: Any) -> Response:
    """The one error shape; under the console, for a browser (it asks for text/html), the
    same refusal as a page for a person."""
    wants_page = "text/html" in request.headers.get("accept", "")
    if status >= 400 and wants_page and request.url.path.startswith(PAGES_PREFIX):
        caller = getattr(request.state, "caller", None)
        return CONSOLE.refusal(
            request, caller, status, message, current_request_id(), extra.get("headers")
        )
    return _error_response(status, code, message, **extra)


def _grant_use_logger(database: Database) -> Callable[[Scope, int], Awaitable[None]]:
    """Write each request a support admin made under a grant to the grant's action log,
    with the status it is about to be answered; failing that, it is answered 500 instead."""

    async def log_grant_use(scope: Scope, status: int) -> None:
        acting = scope.get("state", {}).get(ACTING_UNDER_GRANT)
        if not isinstance(acting, ActingUnderGrant):
            return
        ids = {k: str(v) for k, v in scope.get("path_params", {}).items() if k != "tenant"}
        use = support.GrantUse(
            acting.grant_id, acting.user_id, acting.tenant_id, scope["method"],
            route_of(scope), ids, status, current_request_id(),
        )  # fmt: skip
        await run_in_threadpool(support.record_grant_use, database, use)

    return log_grant_use


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(DarvazaError)
    async def _darvaza_error(request: Request, exc: DarvazaError) -> Response:
        return _refusal(
            request, exc.status_code, exc.code, exc.message, headers=exc.headers,
            details=exc.details,
        )  # fmt: skip

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        phrase = HTTPStatus(exc.status_code).phrase
        message = exc.detail if exc.detail and exc.detail != phrase else f"{phrase}."
        headers = dict(exc.headers) if exc.headers else None
        if exc.status_code == HTTPStatus.METHOD_NOT_ALLOWED:
            headers = {**(headers or {}), "Allow": ", ".join(_allowed_methods(request))}
        return _refusal(
            request, exc.status_code, code_for_status(exc.status_code), message, headers=headers
        )

    @app.exception_handler(OperationalError)
    @app.exception_handler(InterfaceError)
    async def _database_unavailable(request: Request, exc: Exception) -> Response:
        # Lost connections and lock timeouts pass: say "try again", not "we have a bug".
        get_logger("darvaza.http").error("database_unavailable", exc_info=exc)
        return await _darvaza_error(
            request,
            Unavailable(
                "The database is unavailable; try again shortly.",
                headers={"Retry-After": str(DATABASE_RETRY_AFTER_SECONDS)},
            ),
        )

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> Response:
        if _body_has_wrong_media_type(request, exc):
            return _error_response(
                415, "unsupported_media_type", "Send the request body as application/json."
            )
        if any(error.get("type") == "json_invalid" for error in exc.errors()):
            # A body that cannot even be read is a bad request, not invalid input.
            return _error_response(
                400,
                "bad_request",
                "The body is not valid JSON.",
                details=validation_details(exc.errors()),
            )
        return _refusal(
            request,
            422,
            "validation_error",
            "The request is not valid.",
            details=validation_details(exc.errors()),
        )


def _allowed_methods(request: Request) -> list[str]:
    """Every method some route serves at this path. Starlette's own 405 names only the
    first route that matched the path, though a path's GET and POST are often two."""
    methods: set[str] = set()
    for route in iter_route_contexts(request.app.routes):
        if route.path and compile_path(route.path)[0].match(request.url.path):
            methods |= set(route.methods or ())
    return sorted(methods)


def _body_has_wrong_media_type(request: Request, exc: RequestValidationError) -> bool:
    """A body failed validation because it was not sent in the media type the route reads."""
    body_field = getattr(request.scope.get("route"), "body_field", None)
    if body_field is None or not any(err.get("loc", ("",))[0] == "body" for err in exc.errors()):
        return False
    if request.headers.get("content-length", "0") == "0" and not request.headers.get(
        "transfer-encoding"
    ):
        return False  # no body at all: that is a missing body (422), not a wrong type
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if isinstance(body_field.field_info, params.Form):  # File is a kind of Form
        return media_type not in _FORM_MEDIA_TYPES
    return not (media_type == "application/json" or media_type.endswith("+json"))
