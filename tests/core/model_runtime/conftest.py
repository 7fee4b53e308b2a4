"""Fixtures of the model runtime tests: an internet guard and scripted upstream servers.

The scripted server is a real Starlette app under uvicorn on loopback (the SDKs speak
real HTTP to it); each test queues the responses it wants, in order.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from ore.core.model_runtime.retry import CallPolicy
from tests.core.kv.conftest import kv  # noqa: F401 - the KV fixture, memory and Redis
from tests.processes import free_port


def _is_loopback(host: object) -> bool:
    if host in ("localhost", None):
        return True
    try:
        return ipaddress.ip_address(str(host).split("%")[0]).is_loopback
    except ValueError:
        return False


@pytest.fixture(autouse=True)
def no_internet(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail any attempt to resolve or reach a host that is not loopback."""
    real_connect = socket.socket.connect
    real_getaddrinfo = socket.getaddrinfo

    def connect(self: socket.socket, address: Any) -> Any:
        if self.family in (socket.AF_INET, socket.AF_INET6) and not _is_loopback(address[0]):
            pytest.fail(f"test tried to reach the internet: {address!r}")
        return real_connect(self, address)

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if not _is_loopback(host):
            pytest.fail(f"test tried to resolve an outside host: {host!r}")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


Handler = Callable[[dict[str, Any], Request], Response]


@dataclass
class ScriptedServer:
    """Answers each request with the next queued handler; records what it received."""

    url: str
    script: list[Handler] = field(default_factory=list)
    received: list[tuple[str, dict[str, Any], dict[str, str]]] = field(default_factory=list)

    def queue(self, *handlers: Handler) -> None:
        self.script.extend(handlers)

    async def handle(self, request: Request) -> Response:
        raw = await request.body()
        body = json.loads(raw) if raw else {}
        self.received.append((request.url.path, body, dict(request.headers)))
        if not self.script:
            return JSONResponse({"error": {"message": "script exhausted"}}, status_code=599)
        return self.script.pop(0)(body, request)


@pytest.fixture(scope="session")
def _server() -> Iterator[ScriptedServer]:
    port = free_port()
    server = ScriptedServer(url=f"http://127.0.0.1:{port}")
    app = Starlette(
        routes=[Route("/{path:path}", server.handle, methods=["GET", "POST"])],
    )
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan="off",
        timeout_graceful_shutdown=1,
    )
    uv = uvicorn.Server(config)
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not uv.started:
        if time.monotonic() > deadline:
            raise RuntimeError("scripted server did not start")
        time.sleep(0.01)
    yield server
    uv.should_exit = True
    thread.join(5)


@pytest.fixture
def upstream(_server: ScriptedServer) -> Iterator[ScriptedServer]:
    _server.script.clear()
    _server.received.clear()
    yield _server
    _server.script.clear()


@pytest.fixture
async def http_client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


@pytest.fixture
def fast_policy() -> CallPolicy:
    """Short backoff and timeouts so error paths finish quickly."""
    return CallPolicy(
        max_retries=2,
        backoff_base=0.01,
        backoff_max=0.02,
        first_chunk_timeout=2.0,
        chunk_timeout=2.0,
        deadline=10.0,
    )


# --- response builders ----------------------------------------------------------------


def sse(events: list[str]) -> Handler:
    """A streaming response of raw SSE frames."""

    def handler(body: dict[str, Any], request: Request) -> Response:
        async def frames() -> AsyncIterator[bytes]:
            for event in events:
                yield event.encode()

        return StreamingResponse(frames(), media_type="text/event-stream")

    return handler


def openai_stream(*chunks: dict[str, Any], done: bool = True) -> Handler:
    frames = [f"data: {json.dumps(c)}\n\n" for c in chunks]
    return sse(frames + (["data: [DONE]\n\n"] if done else []))


def chunk(
    content: str | None = None,
    *,
    tool_calls: list[dict[str, Any]] | None = None,
    finish: str | None = None,
    usage: dict[str, int] | None = None,
    no_choices: bool = False,
) -> dict[str, Any]:
    delta: dict[str, Any] = {}
    if content is not None:
        delta["content"] = content
    if tool_calls is not None:
        delta["tool_calls"] = tool_calls
    choices = [] if no_choices else [{"index": 0, "delta": delta, "finish_reason": finish}]
    out: dict[str, Any] = {
        "id": "c1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "m",
        "choices": choices,
    }
    if usage is not None:
        out["usage"] = {**usage, "total_tokens": sum(usage.values())}
    return out


def error(status: int, message: str, param: str | None = None) -> Handler:
    def handler(body: dict[str, Any], request: Request) -> Response:
        payload = {"error": {"message": message, "type": "error", "param": param, "code": None}}
        return JSONResponse(payload, status_code=status)

    return handler


def hang(seconds: float = 30.0, after: list[str] | None = None) -> Handler:
    """Send ``after`` frames (if any), then stall."""

    def handler(body: dict[str, Any], request: Request) -> Response:
        async def frames() -> AsyncIterator[bytes]:
            for frame in after or []:
                yield frame.encode()
            await asyncio.sleep(seconds)
            yield b""

        return StreamingResponse(frames(), media_type="text/event-stream")

    return handler


def json_response(payload: Any) -> Handler:
    def handler(body: dict[str, Any], request: Request) -> Response:
        return JSONResponse(payload)

    return handler


def trickle(frame: str, *, every: float, count: int) -> Handler:
    """Send ``frame`` ``count`` times, ``every`` seconds apart (each within any chunk timeout)."""

    def handler(body: dict[str, Any], request: Request) -> Response:
        async def frames() -> AsyncIterator[bytes]:
            for _ in range(count):
                yield frame.encode()
                await asyncio.sleep(every)

        return StreamingResponse(frames(), media_type="text/event-stream")

    return handler
