"""Upstreams for tests: a scripted OpenAI-style server and `ore models serve-local`.

The scripted server is a real Starlette app under uvicorn on loopback (the SDKs speak
real HTTP to it); each test queues the responses it wants, in order. It is allowed only
for failures and timing (DESIGN.md §7); a working model in tests is the local model served
over HTTP by :func:`start_serve_local`.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.processes import free_port, ore_environment, start_ore, stop


def _is_loopback(host: object) -> bool:
    """True for every spelling of this machine: names, IPv4 shorthand, mapped IPv6."""
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    if host in ("localhost", "", None):
        return True
    text = str(host).strip("[]").split("%")[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        try:  # 127.1, 0x7f.0.0.1, 2130706433: forms inet_aton accepts
            address = ipaddress.IPv4Address(socket.inet_aton(text))
        except OSError:
            return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback or address.is_unspecified


def guard_internet(monkeypatch: pytest.MonkeyPatch) -> None:
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


@contextmanager
def run_scripted_server() -> Iterator[ScriptedServer]:
    """A :class:`ScriptedServer` under uvicorn on a free loopback port."""
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


@contextmanager
def start_serve_local(data_dir: Path) -> Iterator[str]:
    """`ore models serve-local` as a real process; yields its ``/v1`` base URL."""
    port = free_port()
    server = start_ore(
        "models", "serve-local", "--port", str(port), data_dir=data_dir, env=ore_environment()
    )
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 60
        while True:
            if server.poll() is not None:
                log = (data_dir / "ore.log").read_text(errors="replace")
                raise AssertionError(f"serve-local exited: {log[-2000:]}")
            try:
                if httpx.get(f"{url}/models", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "serve-local did not answer in 60 s"
            time.sleep(0.1)
        yield url
    finally:
        stop(server)


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
