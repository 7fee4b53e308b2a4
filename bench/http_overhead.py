"""HTTP overhead of ore against a bare Starlette handler, served the same way.

Run: ``.venv/bin/python bench/http_overhead.py [--requests 2000] [--concurrency 16]``

Starts two uvicorn subprocesses on loopback with the same loop and HTTP implementation
(uvloop, httptools, one worker, no access log):

(a) ore, embedded settings: SQLite in a temporary directory, LOG_LEVEL=WARNING;
(b) a bare Starlette app with one JSON handler (``bare_app`` below).

A load generator drives each scenario with a bounded number of requests at a fixed
concurrency (and a time cap per round), in rounds that alternate the scenarios, and prints
requests/s, p50 and p99 next to the bare baseline measured in the same run. It runs twice:
with async httpx, and with raw keep-alive asyncio connections (httpx's own CPU cost caps
both servers at its rate on a small machine, hiding the server's share). Both subprocesses
are stopped on the way out. Takes about a minute.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

BENCH_DIR = Path(__file__).resolve().parent
SECRET_KEY = secrets.token_urlsafe(48)  # shared by the ore subprocess and the fallback
ADMIN = {"email": "bench@example.com", "name": "Bench", "password": "bench-pass-123"}
CLIENTS = {
    "httpx": "async httpx.AsyncClient (about 1 ms of client CPU per request)",
    "raw": "raw asyncio keep-alive connections (negligible client CPU)",
}
UVICORN_FLAGS = [
    "--host",
    "127.0.0.1",
    "--loop",
    "uvloop",
    "--http",
    "httptools",
    "--workers",
    "1",
    "--no-access-log",
    "--log-level",
    "warning",
]


async def _bare_json(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


bare_app = Starlette(routes=[Route("/json", _bare_json)])


@dataclass
class Result:
    name: str
    done: int
    errors: int
    seconds: float
    latencies: list[float]

    @property
    def rps(self) -> float:
        return self.done / self.seconds if self.seconds else 0.0

    def percentile(self, fraction: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] * 1000


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _clean_env() -> dict[str, str]:
    from ore.config import Settings

    return {key: value for key, value in os.environ.items() if key not in Settings.model_fields}


@contextmanager
def _server(target: list[str], env: dict[str, str], cwd: Path) -> Iterator[str]:
    port = _free_port()
    command = [sys.executable, "-m", "uvicorn", *target, *UVICORN_FLAGS, "--port", str(port)]
    process = subprocess.Popen(command, env=env, cwd=cwd, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(process, url)
        yield url
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_until_up(process: subprocess.Popen[bytes], url: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            error = process.stderr.read().decode() if process.stderr else ""
            raise SystemExit(f"server exited early:\n{error[-3000:]}")
        try:
            httpx.get(url + "/", timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.2)
    raise SystemExit("server did not start within 60 s")


async def _admin_token(url: str, data_dir: Path) -> str:
    """Sign in through the console API when it exists, else make the admin with services."""
    async with httpx.AsyncClient(base_url=url) as http:
        setup = await http.post("/console/api/setup", json=ADMIN)
        if setup.status_code in (200, 201):
            login = await http.post(
                "/console/api/login",
                json={"email": ADMIN["email"], "password": ADMIN["password"]},
            )
            login.raise_for_status()
            return str(login.json()["data"]["access_token"])
    return await _admin_token_from_services(data_dir)


async def _admin_token_from_services(data_dir: Path) -> str:
    from ore.config import load_settings
    from ore.extensions.database import Database
    from ore.models import Setup
    from ore.services import accounts, tokens, workspaces

    settings = load_settings(_env_file=None, DATA_DIR=str(data_dir), SECRET_KEY=SECRET_KEY)
    db = Database(settings)
    try:
        async with db.unit_of_work() as session:
            account = await accounts.create_account(
                session, email=ADMIN["email"], name=ADMIN["name"], password=ADMIN["password"]
            )
            await workspaces.create_workspace(session, name="Bench", owner=account)
            session.add(Setup(version="bench"))
    finally:
        await db.dispose()
    return tokens.issue_access_token(settings, account.id)


async def _console_read_path(url: str, headers: dict[str, str]) -> str:
    async with httpx.AsyncClient(base_url=url, headers=headers) as http:
        for path in ("/console/api/account/profile", "/console/api/workspaces"):
            if (await http.get(path)).status_code == 200:
                return path
    raise SystemExit("no authenticated console read answered 200")


class RawConnection:
    """One keep-alive HTTP/1.1 connection sending one GET at a time.

    httpx spends about a millisecond of CPU per request, which on a small machine makes
    the load generator, not the server, the bottleneck; this client costs a few percent of
    that, so the servers' own differences show.
    """

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, raw: bytes):
        self.reader = reader
        self.writer = writer
        self.raw = raw

    @classmethod
    async def open(cls, url: str, headers: dict[str, str] | None) -> RawConnection:
        parsed = httpx.URL(url)
        lines = [f"GET {parsed.raw_path.decode()} HTTP/1.1", f"Host: {parsed.host}:{parsed.port}"]
        lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
        raw = ("\r\n".join(lines) + "\r\n\r\n").encode()
        reader, writer = await asyncio.open_connection(parsed.host, parsed.port)
        return cls(reader, writer, raw)

    async def get(self) -> int:
        self.writer.write(self.raw)
        head = await self.reader.readuntil(b"\r\n\r\n")
        lowered = head.lower()
        marker = lowered.find(b"\r\ncontent-length:")
        if marker < 0:
            raise RuntimeError("response without Content-Length")
        value_end = lowered.index(b"\r\n", marker + 2)
        await self.reader.readexactly(int(lowered[marker + 17 : value_end]))
        return int(head[9:12])

    async def close(self) -> None:
        self.writer.close()
        await self.writer.wait_closed()


async def _getters(
    client: str, url: str, headers: dict[str, str] | None, concurrency: int
) -> tuple[list[Callable[[], Awaitable[int]]], Callable[[], Awaitable[None]]]:
    """One GET function per worker, and how to close them all."""
    if client == "raw":
        connections = [await RawConnection.open(url, headers) for _ in range(concurrency)]

        async def close_all() -> None:
            for connection in connections:
                await connection.close()

        return [connection.get for connection in connections], close_all
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    http = httpx.AsyncClient(limits=limits, headers=headers, timeout=30)

    async def get() -> int:
        return (await http.get(url)).status_code

    return [get] * concurrency, http.aclose


async def _drive(
    name: str,
    url: str,
    *,
    client: str,
    requests: int,
    concurrency: int,
    cap_seconds: float,
    headers: dict[str, str] | None = None,
) -> Result:
    getters, close = await _getters(client, url, headers, concurrency)
    try:
        for _ in range(min(50, requests) // concurrency + 1):  # warm-up: connections, caches
            await asyncio.gather(*(get() for get in getters))
        latencies: list[float] = []
        errors = 0
        next_index = 0
        start = time.perf_counter()
        deadline = start + cap_seconds

        async def worker(get: Callable[[], Awaitable[int]]) -> None:
            nonlocal next_index, errors
            while next_index < requests and time.perf_counter() < deadline:
                next_index += 1
                sent = time.perf_counter()
                status = await get()
                latencies.append(time.perf_counter() - sent)
                if status != 200:
                    errors += 1

        await asyncio.gather(*(worker(get) for get in getters))
        seconds = time.perf_counter() - start
    finally:
        await close()
    return Result(name, len(latencies), errors, seconds, latencies)


def _print(results: list[Result], baseline: Result) -> None:
    print(f"{'scenario':<44} {'n':>5} {'err':>4} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8}")
    for result in results:
        print(
            f"{result.name:<44} {result.done:>5} {result.errors:>4} {result.rps:>8.0f} "
            f"{result.percentile(0.50):>8.2f} {result.percentile(0.99):>8.2f}"
        )
    print()
    print(f"ratio ore/bare (bare: {baseline.rps:.0f} req/s, p50 {baseline.percentile(0.5):.2f} ms)")
    for result in results:
        if result is baseline:
            continue
        print(
            f"  {result.name:<42} req/s x{result.rps / baseline.rps:.2f}   "
            f"p50 x{result.percentile(0.5) / baseline.percentile(0.5):.2f}   "
            f"p99 x{result.percentile(0.99) / baseline.percentile(0.99):.2f}"
        )


async def _run(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="ore-bench-") as tmp:
        data_dir = Path(tmp)
        env = _clean_env()
        ore_env = env | {"DATA_DIR": tmp, "LOG_LEVEL": "WARNING", "SECRET_KEY": SECRET_KEY}
        bare_env = env | {"PYTHONPATH": str(BENCH_DIR)}
        with (
            _server(["http_overhead:bare_app"], bare_env, BENCH_DIR) as bare,
            _server(["ore.app_factory:create_app", "--factory"], ore_env, data_dir) as ore,
        ):
            token = await _admin_token(ore, data_dir)
            auth = {"Authorization": f"Bearer {token}"}
            read = await _console_read_path(ore, auth)
            scenarios: list[tuple[str, str, dict[str, str] | None]] = [
                ("bare Starlette GET /json", bare + "/json", None),
                ("ore GET /console/api/ping", ore + "/console/api/ping", None),
                ("ore GET /health", ore + "/health", None),
                (f"ore GET {read} (Bearer)", ore + read, auth),
            ]
            tables = {
                client: await _interleaved(scenarios, client, args) for client in args.clients
            }
    print(
        f"\n{args.requests} requests per scenario in {args.rounds} interleaved rounds, "
        f"concurrency {args.concurrency}, cap {args.cap_seconds:.0f} s per round; uvicorn "
        f"uvloop+httptools, 1 worker; {os.cpu_count()} CPUs shared with the load generator"
    )
    for client, results in tables.items():
        print(f"\n== load generator: {CLIENTS[client]}")
        _print(results, results[0])


async def _interleaved(
    scenarios: list[tuple[str, str, dict[str, str] | None]], client: str, args: argparse.Namespace
) -> list[Result]:
    """Rounds alternate the scenarios, so a burst of other load on the machine hits each of
    them instead of skewing one against the baseline."""
    per_round = max(1, args.requests // args.rounds)
    results = {name: Result(name, 0, 0, 0.0, []) for name, _, _ in scenarios}
    for _ in range(args.rounds):
        for name, url, headers in scenarios:
            part = await _drive(
                name,
                url,
                client=client,
                requests=per_round,
                concurrency=args.concurrency,
                cap_seconds=args.cap_seconds,
                headers=headers,
            )
            total = results[name]
            total.done += part.done
            total.errors += part.errors
            total.seconds += part.seconds
            total.latencies.extend(part.latencies)
    return list(results.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--cap-seconds", type=float, default=5.0)
    parser.add_argument(
        "--clients",
        type=lambda value: [item for item in value.split(",") if item],
        default=list(CLIENTS),
        help="comma-separated load generators: httpx (async httpx.AsyncClient), raw",
    )
    asyncio.run(_run(parser.parse_args()))


if __name__ == "__main__":
    main()
