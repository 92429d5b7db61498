"""HTTP basics against a real server: request ids, the one error shape for every status,
security headers, body limits, metrics."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from pydantic import BaseModel, Field
from sqlalchemy import select
from starlette.types import ASGIApp

from darvaza import __version__
from darvaza.app import create_app
from darvaza.audit.models import AuditEvent
from darvaza.config import Settings
from darvaza.errors import Conflict
from darvaza.jobs.models import Job
from darvaza.jobs.queue import enqueue
from tests.support.settings import make_settings
from tests.support.world import Api, admin_token, error_code

SECURITY_HEADERS = {
    "content-security-policy": "frame-ancestors 'none'",
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
}


class Item(BaseModel):
    name: str = Field(min_length=1)
    price_rials: int = Field(ge=0)


def probe_router() -> APIRouter:
    """Routes that read bodies and fail in each way, so the real app's handling can be seen."""
    router = APIRouter(prefix="/probe")

    @router.post("/items")
    def create_item(item: Item) -> Item:
        return item

    @router.get("/items/{item_id}")
    def get_item(item_id: int) -> dict[str, int]:
        return {"item_id": item_id}

    @router.get("/boom")
    def boom() -> None:
        raise RuntimeError("SELECT password_hash FROM users WHERE id = 1")

    @router.get("/conflict")
    def conflict() -> None:
        raise Conflict("The plan is already retired.", code="plan_retired")

    return router


def build_app(settings: Settings) -> FastAPI:
    app = create_app(settings)
    app.include_router(probe_router())
    return app


@pytest.fixture
def client(database_url: str, serve: Callable[[ASGIApp], str]) -> Iterator[httpx.Client]:
    limited = make_settings(database_url=database_url, max_request_body_bytes=2048)
    with httpx.Client(base_url=serve(build_app(limited)), timeout=10) as http:
        yield http


def assert_error_shape(response: httpx.Response, status: int, code: str) -> dict[str, object]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"error"}
    error = body["error"]
    assert set(error) - {"details"} == {"code", "message", "request_id"}
    assert error["code"] == code
    assert isinstance(error["message"], str)
    assert error["message"]
    assert error["request_id"] == response.headers["x-request-id"]
    for header, fragment in SECURITY_HEADERS.items():
        assert fragment in response.headers[header]
    return dict(error)


def test_every_response_gets_a_request_id(client: httpx.Client) -> None:
    first = client.get("/health")
    second = client.get("/health")
    assert re.fullmatch(r"[0-9a-f]{32}", first.headers["x-request-id"])
    assert first.headers["x-request-id"] != second.headers["x-request-id"]


def test_a_plain_caller_request_id_is_kept(client: httpx.Client) -> None:
    response = client.get("/nope", headers={"X-Request-ID": "edge-7f3a9c21.retry-2"})
    assert response.headers["x-request-id"] == "edge-7f3a9c21.retry-2"
    assert response.json()["error"]["request_id"] == "edge-7f3a9c21.retry-2"


@pytest.mark.parametrize("offered", ["short", "has spaces in it", "x" * 65, "semi;colon;id"])
def test_an_odd_caller_request_id_is_replaced(client: httpx.Client, offered: str) -> None:
    response = client.get("/health", headers={"X-Request-ID": offered})
    assert response.headers["x-request-id"] != offered
    assert re.fullmatch(r"[0-9a-f]{32}", response.headers["x-request-id"])


def test_unknown_route_is_404(client: httpx.Client) -> None:
    assert_error_shape(client.get("/api/v1/nothing-here"), 404, "not_found")


def test_wrong_method_is_405_with_allow(client: httpx.Client) -> None:
    response = client.delete("/health")
    assert_error_shape(response, 405, "method_not_allowed")
    assert response.headers["allow"] == "GET"


@pytest.mark.parametrize(
    ("path", "allowed"),
    [
        ("/api/v1/admin/tenants", "GET, POST"),  # two routes on one path
        ("/api/v1/tenants/acme/plans", "GET, POST"),
        ("/api/v1/admin/jobs/7", "GET"),
    ],
)
def test_a_405_names_every_method_the_path_has(
    client: httpx.Client, path: str, allowed: str
) -> None:
    """Starlette's 405 named only the first route that matched (a GET and a POST on one
    path are two routes): a client told `Allow: POST` would never try the GET."""
    response = client.request("PATCH", path)
    assert_error_shape(response, 405, "method_not_allowed")
    assert response.headers["allow"] == allowed


def test_malformed_json_is_400_bad_request(client: httpx.Client) -> None:
    """A body that cannot be read at all is a 400, as the error table says; JSON that
    reads but does not fit is a 422."""
    response = client.post(
        "/probe/items", content=b'{"name": "gold",', headers={"content-type": "application/json"}
    )
    error = assert_error_shape(response, 400, "bad_request")
    assert error["details"][0]["type"] == "json_invalid"  # type: ignore[index]
    wrong_shape = client.post("/probe/items", json=[1, 2])
    assert_error_shape(wrong_shape, 422, "validation_error")


def test_invalid_fields_are_422_naming_each_field_without_echoing_input(
    client: httpx.Client,
) -> None:
    response = client.post("/probe/items", json={"name": "", "price_rials": "secret-ish"})
    error = assert_error_shape(response, 422, "validation_error")
    fields = {detail["field"] for detail in error["details"]}  # type: ignore[attr-defined]
    assert fields == {"body.name", "body.price_rials"}
    assert "secret-ish" not in response.text


def test_missing_body_is_422(client: httpx.Client) -> None:
    assert_error_shape(client.post("/probe/items"), 422, "validation_error")


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded"])
def test_wrong_content_type_is_415(client: httpx.Client, content_type: str) -> None:
    response = client.post(
        "/probe/items",
        content=b'{"name": "gold", "price_rials": 10}',
        headers={"content-type": content_type},
    )
    assert_error_shape(response, 415, "unsupported_media_type")


def test_bad_path_parameter_is_422(client: httpx.Client) -> None:
    assert_error_shape(client.get("/probe/items/not-a-number"), 422, "validation_error")


def test_declared_oversized_body_is_413(client: httpx.Client) -> None:
    big = b'{"name": "' + b"x" * 4096 + b'", "price_rials": 1}'
    response = client.post(
        "/probe/items", content=big, headers={"content-type": "application/json"}
    )
    error = assert_error_shape(response, 413, "payload_too_large")
    assert "2048" in str(error["message"])


def test_streamed_oversized_body_is_413(client: httpx.Client) -> None:
    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit must count as it reads
        yield b'{"name": "'
        for _ in range(8):
            yield b"x" * 512
        yield b'", "price_rials": 1}'

    response = client.post(
        "/probe/items", content=chunks(), headers={"content-type": "application/json"}
    )
    assert "content-length" not in response.request.headers
    assert_error_shape(response, 413, "payload_too_large")


def test_a_body_within_the_limit_is_accepted(client: httpx.Client) -> None:
    response = client.post("/probe/items", json={"name": "گلد", "price_rials": 150_000})
    assert response.status_code == 200
    assert response.json() == {"name": "گلد", "price_rials": 150_000}


def test_service_errors_keep_their_status_and_code(client: httpx.Client) -> None:
    error = assert_error_shape(client.get("/probe/conflict"), 409, "plan_retired")
    assert error["message"] == "The plan is already retired."


def test_unexpected_error_is_500_without_internals(client: httpx.Client) -> None:
    response = client.get("/probe/boom")
    assert_error_shape(response, 500, "internal_error")
    for leak in ("SELECT", "password_hash", "Traceback", "RuntimeError", ".py"):
        assert leak not in response.text
    assert client.get("/health").status_code == 200  # the server is still fine


def test_security_headers_on_success_and_no_hsts_in_local(client: httpx.Client) -> None:
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "version": __version__}
    for header, fragment in SECURITY_HEADERS.items():
        assert fragment in response.headers[header]
    assert "strict-transport-security" not in response.headers
    assert response.headers["cache-control"] == "no-store"


def test_hsts_outside_local(database_url: str, serve: Callable[[ASGIApp], str]) -> None:
    staging = make_settings(
        profile="staging",
        secret_key="s" * 40,
        audit_key="a" * 40,
        database_url=database_url,
        public_url="https://members.example.com",
    )
    response = httpx.get(serve(create_app(staging)) + "/health")
    assert response.headers["strict-transport-security"].startswith("max-age=31536000")


def test_metrics_count_by_route_template_with_latency_and_build(client: httpx.Client) -> None:
    client.get("/probe/items/1")
    client.get("/probe/items/2")
    client.get("/nope/secret-token-in-path")
    client.delete("/health")
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    text = response.text
    assert (
        'darvaza_http_requests_total{method="GET",route="/probe/items/{item_id}",status="200"} 2.0'
        in text
    )
    assert 'darvaza_http_requests_total{method="GET",route="<unmatched>",status="404"} 1.0' in text
    assert 'darvaza_http_requests_total{method="DELETE",route="/health",status="405"} 1.0' in text
    assert "secret-token-in-path" not in text
    assert re.search(
        r'darvaza_http_request_duration_seconds_bucket\{le="\+Inf",method="GET",'
        r'route="/probe/items/\{item_id\}"\} 2.0',
        text,
    )
    assert "darvaza_build_info{python=" in text
    assert f'version="{__version__}"' in text


def test_metrics_can_require_a_token(database_url: str, serve: Callable[[ASGIApp], str]) -> None:
    token = "metrics-" + "t" * 40
    base = serve(create_app(make_settings(database_url=database_url, metrics_token=token)))
    assert_error_shape(httpx.get(base + "/metrics"), 401, "unauthenticated")
    wrong = httpx.get(base + "/metrics", headers={"Authorization": "Bearer wrong"})
    assert_error_shape(wrong, 401, "unauthenticated")
    right = httpx.get(base + "/metrics", headers={"Authorization": f"Bearer {token}"})
    assert right.status_code == 200
    assert "darvaza_http_requests_total" in right.text


def test_text_with_a_nul_character_is_refused_alike_on_both_engines_and_changes_nothing(
    api: Api,
) -> None:
    # PostgreSQL cannot store U+0000 in text; a body, a query or a form holding it is bad
    # input on every engine, never a 500, and nothing it would have changed is changed.
    with api.db.transaction() as session:
        job_id = enqueue(session, "audit.seal")
    token = admin_token(api.db)

    body = api.call("POST", f"/api/v1/admin/jobs/{job_id}/cancel", token,
                    json={"reason": "wrong\x00job"})  # fmt: skip
    query = api.call("GET", "/api/v1/admin/evidence?name=a%00b", token)

    for refused in (body, query):
        assert (refused.status_code, error_code(refused)) == (422, "invalid_text"), refused.text
        assert "NUL" in refused.json()["error"]["message"]
    with api.db.read() as session:
        assert session.get_one(Job, job_id).state == "queued"
        assert (
            session.scalars(select(AuditEvent).where(AuditEvent.action == "job.cancelled")).all()
            == []
        )
