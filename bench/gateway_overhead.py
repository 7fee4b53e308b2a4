"""Gateway overhead: ore's /v1/chat/completions and the LiteLLM proxy in front of one stub.

Run: ``.venv/bin/python bench/gateway_overhead.py [--requests 1000] [--concurrency 1,16,64]``

Starts, on loopback, in separate processes:

(a) a fast OpenAI-compatible stub upstream (this file with ``--stub``: raw asyncio on uvloop,
    no sleeps) answering ``GET /v1/models`` and ``POST /v1/chat/completions``, blocking JSON
    or SSE (a role chunk, five content chunks, a finish chunk, a usage chunk, ``[DONE]``);
    every answer carries a nonce drawn for this run, and the stub counts its chat calls;
(b) ``ore serve`` in embedded mode (SQLite in a temporary DATA_DIR, LOG_LEVEL=WARNING): the
    bench sets it up through the console API (setup, login, a gateway key, credentials of
    ``openai_api_compatible`` pointing at the stub) and calls the gateway with the model
    ``openai_api_compatible/stub-model``;
(c) the LiteLLM proxy (``litellm[proxy]``, installed on first use into its own virtualenv,
    ``--litellm-venv``, never ore's) with one model routed to the stub, a master key, no
    database, telemetry off and the bundled cost map (no network). If it cannot be installed
    or started, the bench says why and goes on without it.

A raw keep-alive HTTP/1.1 client (negligible CPU next to httpx's, which would otherwise
cap every target at its own rate) sends the same chat request to each target, blocking and
streaming, at each concurrency, in rounds that alternate the targets so a burst of other
load on the machine hits all of them. Each answer's content must be the stub's text with
this run's nonce, and the stub's call counter must rise by one per request: otherwise the
request counts as an error, so a figure can only come from a request the stub answered.
Printed: p50/p99 latency and time to first content token, requests/s, and for each proxy
the latency added to the direct calls and its throughput as a ratio of theirs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

STUB_MODEL = "stub-model"
STUB_WORDS = ["The ", "stub ", "upstream ", "says ", "hello "]
ADMIN = {"email": "bench@example.com", "name": "Bench", "password": "bench-pass-123"}
ORE_PROVIDER = "openai_api_compatible"
DEFAULT_LITELLM_VENV = Path.home() / ".cache" / "ore-bench" / "litellm-venv"
PROMPT = [{"role": "user", "content": "Say hello."}]


# --- the stub upstream -----------------------------------------------------------------------


class Stub:
    """An OpenAI-compatible chat upstream that answers at once, over raw asyncio streams."""

    def __init__(self, nonce: str) -> None:
        self.words = [*STUB_WORDS, nonce]
        self.chat_calls = 0
        self.connections = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Keep-alive requests on one connection; it counts once it carries a chat call."""
        counted = False
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                method, path, headers = _parse_head(head)
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                chat = await self.answer(writer, method, path, body)
                if chat and not counted:
                    counted = True
                    self.connections += 1
                if headers.get("connection", "").lower() == "close":
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def answer(
        self, writer: asyncio.StreamWriter, method: str, path: str, body: bytes
    ) -> bool:
        """Answer one request; whether it was a chat call."""
        path = path.split("?", 1)[0].rstrip("/")
        if method == "GET" and path.endswith("/models"):
            _write_json(writer, 200, {"object": "list", "data": [_model_entry()]})
        elif method == "GET" and path == "/stats":
            stats = {"chat_calls": self.chat_calls, "connections": self.connections}
            _write_json(writer, 200, stats)
        elif method == "POST" and path.endswith("/chat/completions"):
            self.chat_calls += 1
            request = json.loads(body or b"{}")
            if request.get("stream"):
                await self.stream(writer, request)
            else:
                _write_json(writer, 200, self.completion(request))
        else:
            error = {"message": f"no route {method} {path}", "type": "invalid_request_error"}
            _write_json(writer, 404, {"error": error})
        await writer.drain()
        return path.endswith("/chat/completions")

    def completion(self, request: dict[str, Any]) -> dict[str, Any]:
        message = {"role": "assistant", "content": "".join(self.words)}
        return {
            **_chunk_frame(request, "chat.completion"),
            "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
            "usage": self.usage(),
        }

    async def stream(self, writer: asyncio.StreamWriter, request: dict[str, Any]) -> None:
        """One SSE event per HTTP chunk, each written on its own (no batching, no sleeps)."""
        writer.write(
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
            b"cache-control: no-cache\r\ntransfer-encoding: chunked\r\n\r\n"
        )
        frame = _chunk_frame(request, "chat.completion.chunk")
        deltas: list[tuple[dict[str, Any], str | None]] = [({"role": "assistant"}, None)]
        deltas += [({"content": word}, None) for word in self.words]
        deltas.append(({}, "stop"))
        for delta, finish in deltas:
            choice = {"index": 0, "delta": delta, "finish_reason": finish}
            _write_chunk(writer, _sse({**frame, "choices": [choice]}))
            await writer.drain()
        if (request.get("stream_options") or {}).get("include_usage"):
            _write_chunk(writer, _sse({**frame, "choices": [], "usage": self.usage()}))
        _write_chunk(writer, b"data: [DONE]\n\n")
        writer.write(b"0\r\n\r\n")

    def usage(self) -> dict[str, int]:
        return {"prompt_tokens": 9, "completion_tokens": len(self.words), "total_tokens": 15}


def _parse_head(head: bytes) -> tuple[str, str, dict[str, str]]:
    lines = head.decode("latin-1").split("\r\n")
    method, path, _ = lines[0].split(" ", 2)
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    return method, path, headers


def _model_entry() -> dict[str, Any]:
    return {"id": STUB_MODEL, "object": "model", "created": 0, "owned_by": "bench"}


def _chunk_frame(request: dict[str, Any], kind: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-stub",
        "object": kind,
        "created": int(time.time()),
        "model": request.get("model", STUB_MODEL),
    }


def _sse(payload: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(payload, separators=(",", ":")).encode() + b"\n\n"


def _write_chunk(writer: asyncio.StreamWriter, data: bytes) -> None:
    writer.write(b"%x\r\n%s\r\n" % (len(data), data))


def _write_json(writer: asyncio.StreamWriter, status: int, payload: dict[str, Any]) -> None:
    body = json.dumps(payload, separators=(",", ":")).encode()
    reason = b"OK" if status == 200 else b"Not Found"
    writer.write(
        b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n%s"
        % (status, reason, len(body), body)
    )


async def _serve_stub(port: int, nonce: str) -> None:
    stub = Stub(nonce)
    server = await asyncio.start_server(stub.handle, "127.0.0.1", port, backlog=1024)
    async with server:
        await server.serve_forever()


def _run_stub(port: int, nonce: str) -> None:
    try:
        import uvloop

        uvloop.run(_serve_stub(port, nonce))
    except ImportError:
        asyncio.run(_serve_stub(port, nonce))


# --- the raw load generator ------------------------------------------------------------------


@dataclass
class Target:
    name: str
    url: str  # base URL, the OpenAI-style /v1 prefix included
    model: str
    headers: dict[str, str]


@dataclass
class Cell:
    """The samples of one target in one scenario, summed over the rounds."""

    done: int = 0
    errors: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    ttfts: list[float] = field(default_factory=list)
    connections: int = 0  # opened to the stub while measuring (keep-alive reuse shows as 0)
    first_error: str = ""

    @property
    def rps(self) -> float:
        return self.done / self.seconds if self.seconds else 0.0


def percentile(samples: list[float], fraction: float) -> float:
    """In milliseconds; nearest rank."""
    if not samples:
        return float("nan")
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] * 1000


class RawConnection:
    """One keep-alive HTTP/1.1 connection posting one chat request at a time.

    Reads Content-Length and chunked bodies; for a stream it parses SSE events as they
    arrive, so the time to the first content token is when that token reached the client.
    """

    def __init__(self, target: Target, stream: bool) -> None:
        parsed = httpx.URL(target.url + "/chat/completions")
        self.host, self.port = parsed.host, parsed.port or 80
        body: dict[str, Any] = {"model": target.model, "messages": PROMPT, "stream": stream}
        if stream:
            body["stream_options"] = {"include_usage": True}
        payload = json.dumps(body).encode()
        lines = [
            f"POST {parsed.raw_path.decode()} HTTP/1.1",
            f"Host: {self.host}:{self.port}",
            "Content-Type: application/json",
            f"Content-Length: {len(payload)}",
            *(f"{name}: {value}" for name, value in target.headers.items()),
        ]
        self.raw = ("\r\n".join(lines) + "\r\n\r\n").encode() + payload
        self.stream = stream
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self) -> tuple[int, str, float | None]:
        """Status, the content received, and the seconds to its first token (streams)."""
        if self.reader is None or self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        sent = time.perf_counter()
        self.writer.write(self.raw)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        lowered = head.lower()
        if b"transfer-encoding: chunked" in lowered:
            content, ttft = await self._read_chunked(sent)
        else:
            length = int(lowered.split(b"content-length:", 1)[1].split(b"\r\n", 1)[0])
            content, ttft = _message_content(await self.reader.readexactly(length)), None
        if b"connection: close" in lowered:
            await self.close()
        return status, content, ttft

    async def _read_chunked(self, sent: float) -> tuple[str, float | None]:
        assert self.reader is not None
        pending = b""
        parts: list[str] = []
        body = b""
        ttft: float | None = None
        while True:
            size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                await self.reader.readuntil(b"\r\n")
                break
            data = (await self.reader.readexactly(size + 2))[:-2]
            if not self.stream:
                body += data
                continue
            lines = (pending + data).split(b"\n")
            pending = lines.pop()
            for line in lines:
                text = _sse_content(line)
                if text:
                    ttft = ttft if ttft is not None else time.perf_counter() - sent
                    parts.append(text)
        return ("".join(parts), ttft) if self.stream else (_message_content(body), None)

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with suppress(ConnectionError):
                await self.writer.wait_closed()
        self.reader = self.writer = None


def _sse_content(line: bytes) -> str:
    line = line.strip()
    if not line.startswith(b"data:") or line.endswith(b"[DONE]"):
        return ""
    event = json.loads(line[5:])
    choices = event.get("choices") or [{}]
    return str((choices[0].get("delta") or {}).get("content") or "")


def _message_content(body: bytes) -> str:
    try:
        return str(json.loads(body)["choices"][0]["message"]["content"])
    except (ValueError, KeyError, IndexError, TypeError):
        return body[:200].decode(errors="replace")


async def _stub_counts(http: httpx.AsyncClient) -> tuple[int, int]:
    """Chat calls answered by the stub so far, and the connections that carried them."""
    stats = (await http.get("/stats")).json()
    return int(stats["chat_calls"]), int(stats["connections"])


async def drive(
    target: Target,
    *,
    stream: bool,
    concurrency: int,
    requests: int,
    cap_seconds: float,
    expected: str,
    stub: httpx.AsyncClient,
    cell: Cell,
) -> None:
    """Warm up, then ``requests`` posts from ``concurrency`` connections; adds to ``cell``."""
    connections = [RawConnection(target, stream) for _ in range(concurrency)]
    try:
        for _ in range(max(1, 20 // concurrency)):  # warm-up: connections, caches
            await asyncio.gather(*(connection.post() for connection in connections))
        calls_before, connections_before = await _stub_counts(stub)
        latencies: list[float] = []
        ttfts: list[float] = []
        errors = 0
        next_index = 0
        start = time.perf_counter()
        deadline = start + cap_seconds

        async def worker(connection: RawConnection) -> None:
            nonlocal next_index, errors
            while next_index < requests and time.perf_counter() < deadline:
                next_index += 1
                sent = time.perf_counter()
                try:
                    status, content, ttft = await connection.post()
                except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
                    await connection.close()
                    status, content, ttft = 0, repr(exc), None
                latencies.append(time.perf_counter() - sent)
                if status != 200 or content != expected:
                    errors += 1
                    cell.first_error = cell.first_error or f"{status} {content[:160]!r}"
                elif ttft is not None:
                    ttfts.append(ttft)

        await asyncio.gather(*(worker(connection) for connection in connections))
        seconds = time.perf_counter() - start
        calls_after, connections_after = await _stub_counts(stub)
        upstream = calls_after - calls_before
    finally:
        for connection in connections:
            await connection.close()
    if upstream != len(latencies):
        errors = max(errors, abs(len(latencies) - upstream))
        cell.first_error = cell.first_error or f"stub saw {upstream} calls for {len(latencies)}"
    cell.connections += connections_after - connections_before
    cell.done += len(latencies)
    cell.errors += errors
    cell.seconds += seconds
    cell.latencies += latencies
    cell.ttfts += ttfts


# --- processes -------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def ore_environment(**values: str) -> dict[str, str]:
    """The caller's environment without any ore setting, plus ``values``."""
    from ore.config import Settings

    env = {key: value for key, value in os.environ.items() if key not in Settings.model_fields}
    return env | values


@contextmanager
def process(
    command: list[str], *, env: dict[str, str], cwd: Path, log: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """A subprocess writing to ``log``; SIGTERM (then SIGKILL) on the way out."""
    with log.open("ab") as output:
        child = subprocess.Popen(command, env=env, cwd=cwd, stdout=output, stderr=output)
    try:
        yield child
    finally:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
            try:
                child.wait(timeout=20)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()


def wait_until(child: subprocess.Popen[bytes], url: str, log: Path, seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if child.poll() is not None:
            tail = log.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"exited with {child.returncode}:\n{tail}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer 200 within {seconds:.0f} s")


async def setup_ore(url: str, stub_url: str) -> dict[str, str]:
    """Admin, gateway key and provider credentials through the console API; the key's header."""
    async with httpx.AsyncClient(base_url=url + "/console/api", timeout=30) as http:
        (await http.post("/setup", json=ADMIN)).raise_for_status()
        login = await http.post(
            "/login", json={"email": ADMIN["email"], "password": ADMIN["password"]}
        )
        login.raise_for_status()
        http.cookies.clear()  # Bearer only: cookie sessions would need the CSRF header
        http.headers["Authorization"] = f"Bearer {login.json()['data']['access_token']}"
        key = await http.post("/workspaces/current/gateway-keys")
        key.raise_for_status()
        credentials = await http.post(
            f"/workspaces/current/model-providers/{ORE_PROVIDER}/credentials",
            json={"credentials": {"base_url": stub_url}},
        )
        if credentials.status_code != 201:
            raise RuntimeError(
                f"provider credentials: {credentials.status_code} {credentials.text[:300]}"
            )
    return {"Authorization": f"Bearer {key.json()['token']}"}


def litellm_binary(venv: Path) -> Path:
    """The proxy's executable, installing ``litellm[proxy]`` into ``venv`` the first time."""
    binary = venv / "bin" / "litellm"
    if binary.exists():
        return binary
    python = shutil.which("python3") or sys.executable
    print(f"installing litellm[proxy] into {venv} (once) ...", flush=True)
    steps = [
        [python, "-m", "venv", str(venv)],
        [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "litellm[proxy]"],
    ]
    for step in steps:
        done = subprocess.run(step, capture_output=True, text=True, timeout=900)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(step)} failed:\n{(done.stderr or done.stdout)[-1500:]}")
    return binary


def litellm_name(venv: Path) -> str:
    """``litellm <version>``, read from the installed distribution's metadata directory."""
    found = sorted(venv.glob("lib/python*/site-packages/litellm-*.dist-info"))
    return (
        "litellm " + found[0].name.removesuffix(".dist-info").split("-")[1] if found else "litellm"
    )


def litellm_config(directory: Path, stub_url: str, master_key: str) -> Path:
    config = {
        "model_list": [
            {
                "model_name": STUB_MODEL,
                "litellm_params": {
                    "model": f"openai/{STUB_MODEL}",
                    "api_base": stub_url,
                    "api_key": "dummy",
                },
            }
        ],
        "litellm_settings": {"telemetry": False, "num_retries": 0, "request_timeout": 30},
        "general_settings": {"master_key": master_key},
    }
    path = directory / "litellm.yaml"
    path.write_text(json.dumps(config, indent=2))  # JSON is YAML
    return path


def litellm_environment() -> dict[str, str]:
    """No database, no telemetry, the bundled cost map: the proxy needs no network."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("LITELLM", "DATABASE_URL", "VIRTUAL_ENV"))
    }
    return env | {
        "LITELLM_TELEMETRY": "False",
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "LITELLM_LOG": "ERROR",
        "DISABLE_ADMIN_UI": "True",
        "NO_DOCS": "True",
    }


# --- the run ---------------------------------------------------------------------------------


async def check_target(target: Target, expected: str) -> None:
    """One blocking and one streamed answer through httpx must carry the stub's text."""
    async with httpx.AsyncClient(base_url=target.url, headers=target.headers, timeout=30) as http:
        body = {"model": target.model, "messages": PROMPT}
        reply = await http.post("/chat/completions", json=body)
        content = _message_content(reply.content) if reply.status_code == 200 else reply.text
        if content != expected:
            raise RuntimeError(f"blocking answer {reply.status_code}: {content[:300]!r}")
        streamed = ""
        async with http.stream("POST", "/chat/completions", json=body | {"stream": True}) as sse:
            async for line in sse.aiter_lines():
                streamed += _sse_content(line.encode())
        if streamed != expected:
            raise RuntimeError(f"streamed answer {sse.status_code}: {streamed[:300]!r}")


async def start_targets(
    stack: ExitStack, tmp: Path, stub_url: str, expected: str, args: argparse.Namespace
) -> list[Target]:
    """Direct first (the baseline), then each proxy that started and answers with the
    stub's text; a proxy that does not is reported and left out, the others still run."""
    direct = Target("direct", stub_url, STUB_MODEL, {"Authorization": "Bearer dummy"})
    await check_target(direct, expected)
    targets = [direct]
    starters: list[tuple[str, Callable[[], Awaitable[Target]]]] = [
        ("ore", lambda: start_ore(stack, tmp, stub_url))
    ]
    if args.litellm:
        starters.append(("litellm", lambda: start_litellm(stack, tmp, stub_url, args.litellm_venv)))
    for name, start in starters:
        try:
            target = await start()
            await check_target(target, expected)
        except Exception as exc:  # report and measure the others
            print(f"{name}: not measured: {exc}", flush=True)
            continue
        targets.append(target)
    return targets


async def start_ore(stack: ExitStack, tmp: Path, stub_url: str) -> Target:
    data_dir = tmp / "ore"
    data_dir.mkdir()
    port = free_port()
    env = ore_environment(DATA_DIR=str(data_dir), PORT=str(port), LOG_LEVEL="WARNING")
    log = data_dir / "ore.log"
    command = [sys.executable, "-m", "ore.cli", "serve"]
    child = stack.enter_context(process(command, env=env, cwd=data_dir, log=log))
    url = f"http://127.0.0.1:{port}"
    wait_until(child, url + "/health", log)
    headers = await setup_ore(url, stub_url)
    return Target("ore", url + "/v1", f"{ORE_PROVIDER}/{STUB_MODEL}", headers)


async def start_litellm(stack: ExitStack, tmp: Path, stub_url: str, venv: Path) -> Target:
    binary = litellm_binary(venv)
    master_key = "sk-bench-" + secrets.token_hex(16)
    config = litellm_config(tmp, stub_url, master_key)
    port = free_port()
    command = [str(binary), "--config", str(config), "--host", "127.0.0.1"]
    command += ["--port", str(port), "--num_workers", "1"]
    log = tmp / "litellm.log"
    env = litellm_environment()
    child = stack.enter_context(process(command, env=env, cwd=tmp, log=log))
    url = f"http://127.0.0.1:{port}"
    wait_until(child, url + "/health/liveliness", log, seconds=180)
    return Target(
        litellm_name(venv), url + "/v1", STUB_MODEL, {"Authorization": f"Bearer {master_key}"}
    )


async def measure(
    targets: list[Target], stub_url: str, expected: str, args: argparse.Namespace
) -> dict[tuple[bool, int], list[Cell]]:
    results: dict[tuple[bool, int], list[Cell]] = {}
    per_round = max(1, args.requests // args.rounds)
    async with httpx.AsyncClient(base_url=stub_url.removesuffix("/v1"), timeout=10) as stub:
        for stream in (False, True):
            for concurrency in args.concurrency:
                cells = [Cell() for _ in targets]
                for _ in range(args.rounds):
                    for target, cell in zip(targets, cells, strict=True):
                        await drive(
                            target,
                            stream=stream,
                            concurrency=concurrency,
                            requests=per_round,
                            cap_seconds=args.cap_seconds,
                            expected=expected,
                            stub=stub,
                            cell=cell,
                        )
                results[(stream, concurrency)] = cells
                print(f"  done: {_scenario(stream, concurrency)}", flush=True)
    return results


def _scenario(stream: bool, concurrency: int) -> str:
    return f"{'stream' if stream else 'blocking'} c={concurrency}"


def report(targets: list[Target], results: dict[tuple[bool, int], list[Cell]]) -> None:
    head = (
        f"{'scenario':<14} {'target':<16} {'n':>5} {'err':>4} {'conns':>5} {'req/s':>6} "
        f"{'p50':>7} {'p99':>7} {'ttft50':>7} {'ttft99':>7} | {'+p50':>7} {'+p99':>7} "
        f"{'+ttft50':>7} {'+ttft99':>7} {'rps x':>6}"
    )
    print("\n" + head + "\n" + "-" * len(head))
    for (stream, concurrency), cells in results.items():
        base = cells[0]
        for index, (target, cell) in enumerate(zip(targets, cells, strict=True)):
            label = _scenario(stream, concurrency) if index == 0 else ""
            line = (
                f"{label:<14} {target.name:<16} {cell.done:>5} {cell.errors:>4} "
                f"{cell.connections:>5} {cell.rps:>6.0f} {_ms(percentile(cell.latencies, 0.5))} "
                f"{_ms(percentile(cell.latencies, 0.99))} {_ms(percentile(cell.ttfts, 0.5))} "
                f"{_ms(percentile(cell.ttfts, 0.99))} |"
            )
            if index:
                line += (
                    f" {_ms(_added(cell.latencies, base.latencies, 0.5))}"
                    f" {_ms(_added(cell.latencies, base.latencies, 0.99))}"
                    f" {_ms(_added(cell.ttfts, base.ttfts, 0.5))}"
                    f" {_ms(_added(cell.ttfts, base.ttfts, 0.99))}"
                    f" {cell.rps / base.rps if base.rps else float('nan'):>6.3f}"
                )
            print(line)
            if cell.first_error:
                print(f"{'':<14} first error: {cell.first_error}")
    print(
        "\nms; conns: new TCP connections that carried chat calls to the stub while measuring "
        "(0: the target reuses keep-alive connections upstream);\n+: added to the direct calls "
        "of the same scenario; rps x: req/s / direct req/s"
    )
    _verdict(targets, results)


def _ms(value: float) -> str:
    return f"{'-':>7}" if math.isnan(value) else f"{value:>7.2f}"


def _added(samples: list[float], base: list[float], fraction: float) -> float:
    return percentile(samples, fraction) - percentile(base, fraction)


def _verdict(targets: list[Target], results: dict[tuple[bool, int], list[Cell]]) -> None:
    names = [target.name for target in targets]
    if "ore" not in names:
        return
    ore = names.index("ore")
    for (stream, concurrency), cells in results.items():
        added = _added(cells[ore].latencies, cells[0].latencies, 0.5)
        line = f"ore added p50, {_scenario(stream, concurrency)}: {added:.2f} ms"
        if concurrency == 1:
            line += f" (target < 5 ms: {'met' if added < 5 else 'NOT met'})"
        if len(targets) > 2:
            peer = _added(cells[2].latencies, cells[0].latencies, 0.5)
            lower = "ore lower" if added < peer else "ore higher"
            line += f"; {targets[2].name}: {peer:.2f} ms ({lower})"
        print(line)


async def run(args: argparse.Namespace) -> None:
    nonce = secrets.token_hex(6)
    expected = "".join(STUB_WORDS) + nonce
    with tempfile.TemporaryDirectory(prefix="ore-gateway-bench-") as name, ExitStack() as stack:
        tmp = Path(name)
        port = free_port()
        stub_command = [sys.executable, __file__, "--stub", "--port", str(port), "--nonce", nonce]
        log = tmp / "stub.log"
        stub = stack.enter_context(process(stub_command, env=dict(os.environ), cwd=tmp, log=log))
        stub_url = f"http://127.0.0.1:{port}/v1"
        wait_until(stub, stub_url + "/models", log)
        targets = await start_targets(stack, tmp, stub_url, expected, args)
        print(f"measuring {', '.join(t.name for t in targets)} ...", flush=True)
        results = await measure(targets, stub_url, expected, args)
    print(
        f"\n{args.requests} requests per target and scenario in {args.rounds} interleaved rounds "
        f"(cap {args.cap_seconds:.0f} s per round); stub, ore, LiteLLM and the load generator "
        f"share {os.cpu_count()} CPUs"
    )
    report(targets, results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--cap-seconds", type=float, default=15.0)
    parser.add_argument(
        "--concurrency",
        type=lambda value: [int(item) for item in value.split(",") if item],
        default=[1, 16, 64],
        help="comma-separated concurrency levels (default 1,16,64)",
    )
    parser.add_argument("--no-litellm", dest="litellm", action="store_false")
    parser.add_argument("--litellm-venv", type=Path, default=DEFAULT_LITELLM_VENV)
    parser.add_argument("--stub", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--nonce", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.stub:
        _run_stub(args.port, args.nonce)
    else:
        asyncio.run(run(args))


if __name__ == "__main__":
    main()
