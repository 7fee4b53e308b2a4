"""Pieces shared by the benches that put ore in front of a fast stub model.

- ``Stub``: an OpenAI-compatible chat upstream on raw asyncio (uvloop when installed) that
  answers ``GET /v1/models`` and ``POST /v1/chat/completions`` at once, blocking JSON or SSE
  (a role chunk, one content chunk per word, a finish chunk, a usage chunk, ``[DONE]``). It
  counts its chat calls and the connections that carried them (``GET /stats``), and the
  streams it holds open at once (peak reset by ``POST /stats/reset``). A last user message
  holding ``trickle=<seconds>`` makes it sleep that long before each chunk, so a bench can
  keep many streams open on purpose. ``words=<n>`` makes the answer ``n`` words long
  (:func:`stub_answer`), and ``pace=<seconds>`` paces it like a real model: the first word
  at once, then one word every ``pace`` seconds.
- ``RawConnection`` and ``drive``: a keep-alive HTTP/1.1 load generator whose own CPU is
  negligible next to httpx's, reading SSE as it arrives (time to the first content token).
- ``process``, ``wait_until``, ``free_port``, ``ore_environment``: subprocesses on loopback.
- ``console``: a console API client logged in as a fresh admin of a fresh ore.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
import signal
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

STUB_MODEL = "stub-model"
STUB_WORDS = ["The ", "stub ", "upstream ", "says ", "hello "]
ADMIN = {"email": "bench@example.com", "name": "Bench", "password": "bench-pass-123"}
ORE_PROVIDER = "openai_api_compatible"
TRICKLE = re.compile(r"trickle=([0-9.]+)")
WORDS = re.compile(r"words=([0-9]+)")
PACE = re.compile(r"pace=([0-9.]+)")


def stub_answer(nonce: str, words: int = len(STUB_WORDS) + 1) -> str:
    """The text the stub streams: :data:`STUB_WORDS` over and over, then the nonce, ``words``
    pieces in all (the default: each word once)."""
    return "".join(_answer_words(nonce, words))


def _answer_words(nonce: str, words: int) -> list[str]:
    count = max(1, words) - 1
    return [STUB_WORDS[index % len(STUB_WORDS)] for index in range(count)] + [nonce]


# --- the stub upstream -----------------------------------------------------------------------


class Stub:
    """An OpenAI-compatible chat upstream that answers at once, over raw asyncio streams."""

    def __init__(self, nonce: str) -> None:
        self.nonce = nonce
        self.words = _answer_words(nonce, len(STUB_WORDS) + 1)
        self.chat_calls = 0
        self.connections = 0
        self.open_streams = 0
        self.peak_streams = 0

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
            _write_json(writer, 200, self.stats())
        elif method == "POST" and path == "/stats/reset":
            self.peak_streams = self.open_streams
            _write_json(writer, 200, self.stats())
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

    def stats(self) -> dict[str, int]:
        return {
            "chat_calls": self.chat_calls,
            "connections": self.connections,
            "open_streams": self.open_streams,
            "peak_streams": self.peak_streams,
        }

    def completion(self, request: dict[str, Any]) -> dict[str, Any]:
        message = {"role": "assistant", "content": "".join(self.words)}
        return {
            **_chunk_frame(request, "chat.completion"),
            "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
            "usage": self.usage(),
        }

    async def stream(self, writer: asyncio.StreamWriter, request: dict[str, Any]) -> None:
        """One SSE event per HTTP chunk, each written on its own (no batching; no sleeps
        unless the prompt asks for a trickle)."""
        self.open_streams += 1
        self.peak_streams = max(self.peak_streams, self.open_streams)
        try:
            await self._stream(writer, request, _trickle(request), _pace(request))
        finally:
            self.open_streams -= 1

    async def _stream(
        self, writer: asyncio.StreamWriter, request: dict[str, Any], pause: float, pace: float
    ) -> None:
        writer.write(
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
            b"cache-control: no-cache\r\ntransfer-encoding: chunked\r\n\r\n"
        )
        frame = _chunk_frame(request, "chat.completion.chunk")
        deltas: list[tuple[dict[str, Any], str | None]] = [({"role": "assistant"}, None)]
        words = self._words(request)
        deltas += [({"content": word}, None) for word in words]
        deltas.append(({}, "stop"))
        for index, (delta, finish) in enumerate(deltas):
            if pause:
                await asyncio.sleep(pause)
            if pace and index > 1:  # the role and the first word at once, then paced
                await asyncio.sleep(pace)
            choice = {"index": 0, "delta": delta, "finish_reason": finish}
            _write_chunk(writer, _sse({**frame, "choices": [choice]}))
            await writer.drain()
        if (request.get("stream_options") or {}).get("include_usage"):
            usage = self.usage(len(words))
            _write_chunk(writer, _sse({**frame, "choices": [], "usage": usage}))
        _write_chunk(writer, b"data: [DONE]\n\n")
        writer.write(b"0\r\n\r\n")

    def _words(self, request: dict[str, Any]) -> list[str]:
        found = WORDS.search(_last_user_text(request))
        return _answer_words(self.nonce, int(found.group(1))) if found else self.words

    def usage(self, words: int | None = None) -> dict[str, int]:
        completion = len(self.words) if words is None else words
        return {"prompt_tokens": 9, "completion_tokens": completion, "total_tokens": 9 + completion}


def _last_user_text(request: dict[str, Any]) -> str:
    users = [m for m in request.get("messages") or [] if m.get("role") == "user"]
    content = users[-1].get("content") if users else ""
    return content if isinstance(content, str) else json.dumps(content)


def _trickle(request: dict[str, Any]) -> float:
    """Seconds to sleep before each chunk: ``trickle=<s>`` in the last user message, else 0."""
    found = TRICKLE.search(_last_user_text(request))
    return float(found.group(1)) if found else 0.0


def _pace(request: dict[str, Any]) -> float:
    """Seconds between the words after the first: ``pace=<s>`` in the last user message."""
    found = PACE.search(_last_user_text(request))
    return float(found.group(1)) if found else 0.0


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


def run_stub(port: int, nonce: str) -> None:
    """The stub's process body (a bench's hidden ``--stub`` flag calls it)."""
    try:
        import uvloop

        uvloop.run(_serve_stub(port, nonce))
    except ImportError:
        asyncio.run(_serve_stub(port, nonce))


async def stub_counts(http: httpx.AsyncClient) -> tuple[int, int]:
    """Chat calls answered by the stub so far, and the connections that carried them."""
    stats = (await http.get("/stats")).json()
    return int(stats["chat_calls"]), int(stats["connections"])


# --- the raw load generator ------------------------------------------------------------------


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
    """One keep-alive HTTP/1.1 connection posting one JSON request at a time.

    Reads Content-Length and chunked bodies; for a stream it hands each SSE line to
    ``sse_text`` as it arrives, so the time to the first content token is when that token
    reached the client. ``body_text`` turns a whole (non-stream) body into its content.
    """

    def __init__(
        self,
        url: str,
        body: dict[str, Any],
        headers: dict[str, str],
        *,
        stream: bool,
        sse_text: Callable[[bytes], str],
        body_text: Callable[[bytes], str],
    ) -> None:
        parsed = httpx.URL(url)
        self.host, self.port = parsed.host, parsed.port or 80
        payload = json.dumps(body).encode()
        lines = [
            f"POST {parsed.raw_path.decode()} HTTP/1.1",
            f"Host: {self.host}:{self.port}",
            "Content-Type: application/json",
            f"Content-Length: {len(payload)}",
            *(f"{name}: {value}" for name, value in headers.items()),
        ]
        self.raw = ("\r\n".join(lines) + "\r\n\r\n").encode() + payload
        self.stream = stream
        self.sse_text = sse_text
        self.body_text = body_text
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
            content, ttft = self.body_text(await self.reader.readexactly(length)), None
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
                text = self.sse_text(line)
                if text:
                    ttft = ttft if ttft is not None else time.perf_counter() - sent
                    parts.append(text)
        return ("".join(parts), ttft) if self.stream else (self.body_text(body), None)

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with suppress(ConnectionError):
                await self.writer.wait_closed()
        self.reader = self.writer = None


def completion_delta_text(line: bytes) -> str:
    """The content of one OpenAI chat-completion SSE line (empty for others and [DONE])."""
    line = line.strip()
    if not line.startswith(b"data:") or line.endswith(b"[DONE]"):
        return ""
    event = json.loads(line[5:])
    choices = event.get("choices") or [{}]
    return str((choices[0].get("delta") or {}).get("content") or "")


def completion_message_text(body: bytes) -> str:
    """The message content of a blocking chat completion, else the start of the body."""
    try:
        return str(json.loads(body)["choices"][0]["message"]["content"])
    except (ValueError, KeyError, IndexError, TypeError):
        return body[:200].decode(errors="replace")


def default_warm_up_rounds(concurrency: int) -> int:
    """Warm-up requests per connection: about 20 in all, at least one per connection."""
    return max(1, 20 // concurrency)


async def drive(
    connect: Callable[[], RawConnection],
    *,
    concurrency: int,
    requests: int,
    cap_seconds: float,
    expected: str,
    stub: httpx.AsyncClient,
    cell: Cell,
    warm_up_rounds: int | None = None,
    stagger: float = 0.0,
) -> None:
    """Warm up, then ``requests`` posts from ``concurrency`` connections; adds to ``cell``.

    Warm-up: ``warm_up_rounds`` requests per connection (default :func:`warm_up_rounds`).
    ``stagger``: each connection waits a random share of that many seconds before its first
    measured request, so that long streams do not start and end in lockstep.
    A request counts as an error unless it answered 200 with ``expected``, and the stub's
    call counter must rise by one per request."""
    connections = [connect() for _ in range(concurrency)]
    rounds = default_warm_up_rounds(concurrency) if warm_up_rounds is None else warm_up_rounds
    try:
        for _ in range(rounds):  # warm-up: connections, caches
            await asyncio.gather(*(connection.post() for connection in connections))
        calls_before, connections_before = await stub_counts(stub)
        latencies: list[float] = []
        ttfts: list[float] = []
        errors = 0
        next_index = 0
        start = time.perf_counter()
        deadline = start + cap_seconds

        async def worker(connection: RawConnection) -> None:
            nonlocal next_index, errors
            await asyncio.sleep(random.uniform(0, stagger))
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
        calls_after, connections_after = await stub_counts(stub)
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


@asynccontextmanager
async def console(url: str) -> AsyncIterator[httpx.AsyncClient]:
    """A console API client of a fresh ore: setup, login, then Bearer only (cookie sessions
    would need the CSRF header)."""
    async with httpx.AsyncClient(base_url=url + "/console/api", timeout=30) as http:
        (await http.post("/setup", json=ADMIN)).raise_for_status()
        login = await http.post(
            "/login", json={"email": ADMIN["email"], "password": ADMIN["password"]}
        )
        login.raise_for_status()
        http.cookies.clear()
        http.headers["Authorization"] = f"Bearer {login.json()['data']['access_token']}"
        yield http


async def add_stub_credentials(http: httpx.AsyncClient, stub_url: str) -> None:
    """Workspace credentials of ``openai_api_compatible`` pointing at the stub."""
    credentials = await http.post(
        f"/workspaces/current/model-providers/{ORE_PROVIDER}/credentials",
        json={"credentials": {"base_url": stub_url}},
    )
    if credentials.status_code != 201:
        raise RuntimeError(
            f"provider credentials: {credentials.status_code} {credentials.text[:300]}"
        )


def peak_rss_mb(pid: int) -> float:
    """The process's peak resident set (VmHWM) in MB; nan when /proc cannot tell."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return float("nan")
    found = re.search(r"^VmHWM:\s+(\d+) kB", status, re.MULTILINE)
    return int(found.group(1)) / 1024 if found else float("nan")


def reset_peak_rss(pid: int) -> bool:
    """Restart VmHWM from the current RSS (Linux ``clear_refs`` 5); whether that worked."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of the process (all its threads) so far; nan when unknown."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
