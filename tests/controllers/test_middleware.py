"""The HTTP middleware stack: request ids, headers, logs, CORS, body limits, gzip, custom."""

from __future__ import annotations

import gzip
import json
import logging
import re
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import APIRouter, Form, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ore import __version__
from ore.app_factory import create_app
from ore.config import ConfigError, Settings
from ore.core.errors import PayloadTooLarge, UnsupportedMediaType
from tests.conftest import make_settings

CLIENT_IP = "203.0.113.7"
BODY_LIMIT = 1024
SSE_EVENT = 'data: {"event": "ping"}\n\n'

extra_routes = APIRouter()


class EchoPayload(BaseModel):
    text: str


@extra_routes.post("/_test/echo")
async def echo(payload: EchoPayload) -> dict[str, str]:
    return {"text": payload.text}


@extra_routes.post("/_test/upload")
async def upload(name: str = Form()) -> dict[str, str]:
    return {"name": name}


@extra_routes.post("/_test/raw")
async def raw(request: Request) -> dict[str, int]:
    return {"size": len(await request.body())}


@extra_routes.get("/_test/items/{item_id}")
async def read_item(item_id: int) -> dict[str, int]:
    logging.getLogger("ore.tests").warning("looking at item %s", item_id)
    return {"id": item_id}


@extra_routes.get("/_test/big")
async def big() -> dict[str, list[str]]:
    return {"items": ["lorem ipsum dolor sit amet"] * 400}


@extra_routes.get("/_test/boom")
async def boom() -> None:
    raise RuntimeError("kaboom")


@extra_routes.get("/_test/stream")
async def stream() -> StreamingResponse:
    async def events() -> AsyncIterator[str]:
        for _ in range(200):
            yield SSE_EVENT

    return StreamingResponse(events(), media_type="text/event-stream")


def mark_responses(app: ASGIApp) -> ASGIApp:
    """A custom middleware factory, loaded through CUSTOM_MIDDLEWARE_MODULE."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        async def send_marked(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), (b"x-custom", b"loaded")]
            await send(message)

        await app(scope, receive, send_marked)

    return middleware


Serve = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


@pytest.fixture
def serve(settings: Settings) -> Serve:
    """ore with the test routes above under /console/api, and settings overridden."""

    @asynccontextmanager
    async def running(**overrides: Any) -> AsyncIterator[httpx.AsyncClient]:
        values = {"MAX_REQUEST_BODY_SIZE": BODY_LIMIT, "GZIP_MINIMUM_SIZE": 500, **overrides}
        app = create_app(settings.model_copy(update=values))
        app.include_router(extra_routes, prefix="/console/api")
        async with LifespanManager(app, startup_timeout=60, shutdown_timeout=60):
            transport = httpx.ASGITransport(app=app, client=(CLIENT_IP, 4321))
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
                yield c

    return running


async def test_request_id_is_generated_when_absent(serve: Serve) -> None:
    async with serve() as client:
        first = await client.get("/health")
        second = await client.get("/health")
    assert re.fullmatch(r"[0-9a-f]{32}", first.headers["x-request-id"])
    assert first.headers["x-request-id"] != second.headers["x-request-id"]


async def test_request_id_from_the_client_is_kept(serve: Serve) -> None:
    async with serve() as client:
        response = await client.get("/health", headers={"X-Request-Id": "edge-42.a_B"})
    assert response.headers["x-request-id"] == "edge-42.a_B"


@pytest.mark.parametrize("sent", ["has space", "<script>", "a" * 129, "id;drop", ""])
async def test_unsafe_request_id_is_replaced(serve: Serve, sent: str) -> None:
    async with serve() as client:
        response = await client.get("/health", headers={"X-Request-Id": sent})
    assert re.fullmatch(r"[0-9a-f]{32}", response.headers["x-request-id"])


async def test_request_id_and_access_fields_in_json_logs(serve: Serve, tmp_path: Path) -> None:
    log_file = tmp_path / "logs" / "ore.log"
    async with serve(LOG_OUTPUT_FORMAT="json", LOG_LEVEL="INFO", LOG_FILE=str(log_file)) as c:
        response = await c.get(
            "/console/api/_test/items/42?token=s3cret-value", headers={"X-Request-Id": "trace-1"}
        )
    assert response.status_code == 200
    text = log_file.read_text(encoding="utf-8")
    assert "s3cret-value" not in text
    lines = [json.loads(line) for line in text.splitlines()]
    mine = [line for line in lines if line["request_id"] == "trace-1"]
    app_line = next(line for line in mine if line["logger"] == "ore.tests")
    assert app_line["message"] == "looking at item 42"
    assert app_line["level"] == "WARNING"
    access = next(line for line in mine if line["logger"] == "ore.access")
    assert access["method"] == "GET"
    assert access["path"] == "/console/api/_test/items/42"
    assert access["route"] == "/console/api/_test/items/{item_id}"
    assert access["status"] == 200
    assert isinstance(access["duration_ms"], float)
    assert access["client_ip"] == CLIENT_IP
    assert {"ts", "level", "logger", "message", "request_id"} <= access.keys()
    # Lines outside a request carry no request's id.
    assert any(line["request_id"] == "-" for line in lines)


async def test_unhandled_error_is_logged_as_json_with_the_request_id(
    serve: Serve, tmp_path: Path
) -> None:
    log_file = tmp_path / "ore.log"
    async with serve(LOG_OUTPUT_FORMAT="json", LOG_FILE=str(log_file)) as client:
        response = await client.get("/console/api/_test/boom", headers={"X-Request-Id": "boom-1"})
    assert response.status_code == 500
    assert response.json()["code"] == "unknown"
    assert response.json()["request_id"] == "boom-1"
    assert response.headers["x-request-id"] == "boom-1"
    assert "x-process-time" in response.headers
    lines = [json.loads(line) for line in log_file.read_text(encoding="utf-8").splitlines()]
    error = next(line for line in lines if line["level"] == "ERROR")
    assert error["request_id"] == "boom-1"
    assert "RuntimeError: kaboom" in error["exception"]


async def test_every_response_has_process_time_version_and_env(serve: Serve) -> None:
    async with serve() as client:
        responses = [
            await client.get("/health"),
            await client.get("/no/such/route"),
            await client.post("/console/api/_test/echo", json={"wrong": 1}),
        ]
    for response in responses:
        assert float(response.headers["x-process-time"]) >= 0
        assert response.headers["x-version"] == __version__
        assert response.headers["x-env"] == "DEVELOPMENT"
        assert len(response.headers.get_list("x-request-id")) == 1


async def test_unknown_route_is_a_json_404(serve: Serve) -> None:
    async with serve() as client:
        response = await client.get("/console/api/no-such-thing")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    assert response.json()["status"] == 404


CORS_ORIGINS = {
    "CONSOLE_CORS_ALLOW_ORIGINS": "https://console.example",
    "WEB_API_CORS_ALLOW_ORIGINS": "https://web.example, https://other.example",
}


def _preflight(origin: str, headers: str = "content-type,authorization") -> dict[str, str]:
    return {
        "Origin": origin,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": headers,
    }


async def test_console_preflight_allows_its_origin_with_credentials(serve: Serve) -> None:
    async with serve(**CORS_ORIGINS) as client:
        allowed = await client.options(
            "/console/api/_test/echo",
            headers=_preflight("https://console.example", "content-type,x-csrf-token"),
        )
        refused = await client.options(
            "/console/api/_test/echo", headers=_preflight("https://web.example")
        )
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == "https://console.example"
    assert allowed.headers["access-control-allow-credentials"] == "true"
    allowed_headers = allowed.headers["access-control-allow-headers"].lower()
    for name in ("authorization", "x-csrf-token", "x-app-code", "x-app-passport", "x-request-id"):
        assert name in allowed_headers
    assert refused.status_code == 400
    assert "access-control-allow-origin" not in refused.headers


async def test_web_surfaces_use_the_web_origins(serve: Serve) -> None:
    async with serve(**CORS_ORIGINS) as client:
        web = await client.options("/api/chat-messages", headers=_preflight("https://web.example"))
        service = await client.options(
            "/v1/chat-messages", headers=_preflight("https://other.example")
        )
        console_origin = await client.options(
            "/v1/chat-messages", headers=_preflight("https://console.example")
        )
    assert web.status_code == 200
    assert web.headers["access-control-allow-origin"] == "https://web.example"
    assert service.status_code == 200
    assert service.headers["access-control-allow-origin"] == "https://other.example"
    assert "access-control-allow-credentials" not in service.headers
    assert console_origin.status_code == 400


async def test_simple_cors_response_exposes_the_headers(serve: Serve) -> None:
    async with serve(**CORS_ORIGINS) as client:
        response = await client.get(
            "/console/api/_test/items/1", headers={"Origin": "https://console.example"}
        )
        outside = await client.get("/health", headers={"Origin": "https://console.example"})
    assert response.headers["access-control-allow-origin"] == "https://console.example"
    exposed = response.headers["access-control-expose-headers"]
    for name in ("X-Version", "X-Env", "X-Trace-Id", "X-Request-Id"):
        assert name in exposed
    assert "access-control-allow-origin" not in outside.headers


async def test_security_headers_and_docs_still_load(serve: Serve) -> None:
    async with serve() as client:
        api = await client.get("/health")
        docs = await client.get("/docs")
    assert api.headers["x-content-type-options"] == "nosniff"
    assert api.headers["x-frame-options"] == "DENY"
    assert api.headers["referrer-policy"] == "no-referrer"
    assert "default-src 'none'" in api.headers["content-security-policy"]
    assert docs.status_code == 200
    assert "swagger-ui" in docs.text
    # Swagger UI pulls its script from a CDN: a strict policy there would blank the page.
    assert "content-security-policy" not in docs.headers
    assert docs.headers["x-content-type-options"] == "nosniff"


def _assert_payload_too_large(response: httpx.Response) -> None:
    assert response.status_code == 413
    assert response.json() == {
        "code": "request_entity_too_large",
        "message": PayloadTooLarge.default_message,
        "status": 413,
    }
    assert "x-request-id" in response.headers


async def test_body_over_the_limit_by_content_length_is_413(serve: Serve) -> None:
    async with serve() as client:
        response = await client.post(
            "/console/api/_test/echo", json={"text": "x" * (BODY_LIMIT + 10)}
        )
    _assert_payload_too_large(response)


async def test_upload_routes_take_bodies_up_to_the_largest_upload_limit(serve: Serve) -> None:
    one_mb = 1024 * 1024
    limits = {f"UPLOAD_{kind}SIZE_LIMIT": 1 for kind in ("FILE_", "IMAGE_FILE_", "VIDEO_FILE_")}
    async with serve(**limits, UPLOAD_AUDIO_FILE_SIZE_LIMIT=2) as client:
        headers = {"Authorization": "Bearer app-unknown"}
        within = await client.post(
            "/v1/files/upload", files={"file": ("a.txt", b"x" * one_mb)}, headers=headers
        )
        beyond = await client.post(
            "/v1/files/upload", files={"file": ("a.txt", b"x" * 3 * one_mb)}, headers=headers
        )
        elsewhere = await client.post(
            "/console/api/_test/echo", files={"file": ("a.txt", b"x" * one_mb)}
        )
    # Past the body guard, the route itself answers (here: the key is unknown).
    assert within.status_code == 401
    _assert_payload_too_large(beyond)
    _assert_payload_too_large(elsewhere)


async def test_chunked_body_over_the_limit_is_413(serve: Serve) -> None:
    sent: list[int] = []

    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"text": "'
        for _ in range(8):
            sent.append(1)
            yield b"y" * 256
        yield b'"}'

    async with serve() as client:
        request = client.build_request(
            "POST",
            "/console/api/_test/echo",
            content=chunks(),
            headers={"Content-Type": "application/json"},
        )
        assert request.headers["transfer-encoding"] == "chunked"
        assert "content-length" not in request.headers
        response = await client.send(request)
    _assert_payload_too_large(response)


async def test_route_reading_its_own_body_is_limited_but_not_415(serve: Serve) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(5):
            yield b"z" * 256

    async with serve() as client:
        too_big = await client.post("/console/api/_test/raw", content=chunks())
        plain = await client.post(
            "/console/api/_test/raw", content=b"hello", headers={"Content-Type": "text/plain"}
        )
    _assert_payload_too_large(too_big)
    assert plain.json() == {"size": 5}


async def test_chunked_body_within_the_limit_passes(serve: Serve) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"text": '
        yield b'"small"}'

    async with serve() as client:
        response = await client.post(
            "/console/api/_test/echo",
            content=chunks(),
            headers={"Content-Type": "application/json"},
        )
    assert response.status_code == 200
    assert response.json() == {"text": "small"}


async def test_non_json_body_to_a_json_route_is_415(serve: Serve) -> None:
    async with serve() as client:
        plain = await client.post(
            "/console/api/_test/echo",
            content=b'{"text": "hi"}',
            headers={"Content-Type": "text/plain"},
        )
        form = await client.post("/console/api/_test/echo", data={"text": "hi"})
        json_suffix = await client.post(
            "/console/api/_test/echo",
            content=b'{"text": "hi"}',
            headers={"Content-Type": "application/merge-patch+json; charset=utf-8"},
        )
    for refused in (plain, form):
        assert refused.status_code == 415
        assert refused.json() == {
            "code": "unsupported_media_type",
            "message": UnsupportedMediaType.default_message,
            "status": 415,
        }
    assert json_suffix.status_code == 200


async def test_requests_without_a_body_and_form_routes_are_not_415(serve: Serve) -> None:
    async with serve() as client:
        get = await client.get("/console/api/_test/items/3", headers={"Content-Type": "text/plain"})
        empty = await client.post(
            "/console/api/_test/echo", content=b"", headers={"Content-Type": "text/plain"}
        )
        form = await client.post("/console/api/_test/upload", data={"name": "a.txt"})
        multipart = await client.post(
            "/console/api/_test/upload", data={"name": "b.txt"}, files={"f": b"123"}
        )
    assert get.status_code == 200
    assert empty.status_code == 400  # the body is missing: a validation error, not 415
    assert form.json() == {"name": "a.txt"}
    assert multipart.json() == {"name": "b.txt"}


async def test_large_json_is_gzipped_and_small_is_not(serve: Serve) -> None:
    async with serve() as client:
        big = await client.get("/console/api/_test/big", headers={"Accept-Encoding": "gzip"})
        small = await client.get("/console/api/_test/items/1", headers={"Accept-Encoding": "gzip"})
        plain = await client.get("/console/api/_test/big", headers={"Accept-Encoding": "identity"})
    assert big.headers["content-encoding"] == "gzip"
    assert int(big.headers["content-length"]) < len(big.content)  # httpx decoded it
    assert len(big.json()["items"]) == 400
    assert "content-encoding" not in small.headers
    assert "content-encoding" not in plain.headers


async def test_event_stream_is_never_gzipped(serve: Serve) -> None:
    async with serve() as client:
        response = await client.get(
            "/console/api/_test/stream", headers={"Accept-Encoding": "gzip"}
        )
    assert response.headers["content-type"].startswith("text/event-stream")
    assert "content-encoding" not in response.headers
    assert response.text == SSE_EVENT * 200
    assert gzip.compress(response.content) != response.content  # sanity: it was compressible


async def test_custom_middleware_is_loaded(serve: Serve) -> None:
    async with serve(
        CUSTOM_MIDDLEWARE_ENABLED=True,
        CUSTOM_MIDDLEWARE_MODULE="tests.controllers.test_middleware:mark_responses",
    ) as client:
        response = await client.get("/health")
    assert response.headers["x-custom"] == "loaded"
    assert "x-request-id" in response.headers


@pytest.mark.parametrize(
    ("module", "complaint"),
    [
        ("tests.controllers.no_such_module:factory", "cannot import module"),
        ("tests.controllers.test_middleware:no_such_factory", "no callable"),
        ("tests.controllers.test_middleware", "must look like"),
    ],
)
def test_bad_custom_middleware_stops_startup(tmp_path: Path, module: str, complaint: str) -> None:
    settings = make_settings(
        f"sqlite+aiosqlite:///{tmp_path / 'ore.db'}",
        tmp_path,
        CUSTOM_MIDDLEWARE_ENABLED=True,
        CUSTOM_MIDDLEWARE_MODULE=module,
    )
    with pytest.raises(ConfigError) as raised:
        create_app(settings)
    assert "CUSTOM_MIDDLEWARE_MODULE" in str(raised.value)
    assert complaint in str(raised.value)


def test_custom_middleware_disabled_ignores_the_module(tmp_path: Path) -> None:
    settings = make_settings(
        f"sqlite+aiosqlite:///{tmp_path / 'ore.db'}",
        tmp_path,
        CUSTOM_MIDDLEWARE_MODULE="tests.controllers.no_such_module:factory",
    )
    assert create_app(settings) is not None
