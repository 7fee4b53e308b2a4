"""Chat overhead: streaming /v1/chat-messages through ore next to the stub model alone.

Run: ``.venv/bin/python bench/chat_overhead.py [--requests 400] [--concurrency 1,16,64]
[--databases sqlite,postgresql] [--open-streams 200]``

Starts, on loopback, in separate processes, the fast OpenAI-compatible stub of
``bench/_common.py`` (this file with ``--stub``) and, once per database, ``ore serve``
(LOG_LEVEL=WARNING, a temporary DATA_DIR): embedded SQLite, then a throwaway PostgreSQL
database created on ``--pg-dsn`` and dropped afterwards. The bench sets ore up through the
console API (setup, login, ``openai_api_compatible`` credentials pointing at the stub, a chat
app whose model config names the stub's model, an app key) and posts
``{"inputs": {}, "query": "hi", "user": "u<N>", "response_mode": "streaming",
"auto_generate_name": false}`` (no naming call: one stub call per request) to
``/v1/chat-messages``. The baseline is the same streamed question straight to the stub's
``/v1/chat/completions``, measured in the same run in rounds that alternate the two targets.

Time to first token: to the first ``message`` event for ore, to the first content chunk for
the stub. A request is an error unless it answers 200 with the stub's text (which carries a
nonce drawn for this run) and the stub's call counter rose by one per request. ore's peak
RSS is VmHWM from /proc, restarted before each scenario.

Then the same concurrencies once more with ``--paced WORDS:MS`` (default 100:20): the stub
answers ``WORDS`` words, the first at once and then one every ``MS`` ms, as a real model
streams (a 100-word answer at 50 words a second lasts 2 s). Back-to-back answers that end in
a microsecond keep ore saturated, so what the first scenarios show at c=64 is mostly the
queue in front of a busy process; paced streams show what ore adds to the first token
while 64 streams are open. Each connection starts at a random moment within one answer's
length, so the streams do not run in lockstep.

Last, per database, ``--open-streams`` streams are opened at once through each target, the
stub trickling every chunk (``--hold-seconds`` per stream in all): every stream must answer in
full, and the stub must have held them all open at the same moment.
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
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import httpx

from _common import (
    ORE_PROVIDER,
    STUB_MODEL,
    STUB_WORDS,
    Cell,
    RawConnection,
    completion_delta_text,
    completion_message_text,
    console,
    cpu_seconds,
    default_warm_up_rounds,
    drive,
    free_port,
    ore_environment,
    peak_rss_mb,
    percentile,
    process,
    reset_peak_rss,
    run_stub,
    stub_answer,
    wait_until,
)

QUERY = "hi"
DEFAULT_PG_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
TTFT_TARGETS = {1: 15.0, 64: 50.0}  # added p50 time to first token, ms (issue 4)
STREAM_EVENTS = {"message", "agent_message"}


@dataclass
class Target:
    name: str
    connect: Callable[[int, str], RawConnection]  # (user number, query) -> connection


@dataclass(frozen=True)
class Pacing:
    """A paced answer: ``words`` words, the first at once, then one every ``seconds``."""

    words: int
    seconds: float

    @property
    def query(self) -> str:
        return f"{QUERY} words={self.words} pace={self.seconds:.4f}"

    @property
    def stream_seconds(self) -> float:
        return (self.words - 1) * self.seconds

    def __str__(self) -> str:
        return f"{self.words} words, one every {self.seconds * 1000:.0f} ms"


@dataclass
class Scenario:
    """Direct and ore cells of one concurrency, with ore's peak RSS while it ran."""

    concurrency: int
    pacing: Pacing | None = None
    direct: Cell = field(default_factory=Cell)
    ore: Cell = field(default_factory=Cell)
    rss_mb: float = float("nan")
    cpu_ms: float = float("nan")  # ore's CPU time per request it served, warm-ups included


@dataclass
class OpenStreams:
    """One burst of streams opened at once through one target."""

    name: str
    streams: int
    errors: int
    peak_at_stub: int
    seconds: float
    ttfts: list[float]
    first_error: str


@dataclass
class DatabaseRun:
    database: str
    scenarios: list[Scenario]
    bursts: list[OpenStreams]
    setup_rss_mb: float
    burst_rss_mb: float


# --- the two targets -------------------------------------------------------------------------


def direct_target(stub_url: str) -> Target:
    def connect(user: int, query: str) -> RawConnection:
        body = {
            "model": STUB_MODEL,
            "messages": [{"role": "user", "content": query}],
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        return RawConnection(
            stub_url + "/chat/completions",
            body,
            {"Authorization": "Bearer dummy"},
            stream=True,
            sse_text=completion_delta_text,
            body_text=completion_message_text,
        )

    return Target("direct", connect)


def ore_target(url: str, app_key: str) -> Target:
    def connect(user: int, query: str) -> RawConnection:
        body = {
            "inputs": {},
            "query": query,
            "user": f"u{user}",
            "response_mode": "streaming",
            "auto_generate_name": False,
        }
        return RawConnection(
            url + "/v1/chat-messages",
            body,
            {"Authorization": f"Bearer {app_key}"},
            stream=True,
            sse_text=answer_text,
            body_text=lambda body: body[:200].decode(errors="replace"),
        )

    return Target("ore", connect)


def answer_text(line: bytes) -> str:
    """The answer piece of one ``data:`` line of a chat-messages stream; an ``error`` event
    shows as text too, so the request fails its content check with the reason in view."""
    line = line.strip()
    if not line.startswith(b"data:"):
        return ""  # blank separators and `event: ping`
    event = json.loads(line[5:])
    if event.get("event") in STREAM_EVENTS:
        return str(event.get("answer") or "")
    if event.get("event") == "error":
        return f"[error {event.get('status')} {event.get('code')}: {event.get('message')}]"
    return ""


class Users:
    """Hands out user numbers, so every connection of a run is its own end user."""

    def __init__(self) -> None:
        self.next = 0

    def take(self) -> int:
        self.next += 1
        return self.next


# --- ore and its database --------------------------------------------------------------------


@asynccontextmanager
async def postgres_database(admin_dsn: str) -> AsyncIterator[str]:
    """A throwaway database on ``admin_dsn``'s server, dropped on the way out; its URL."""
    import asyncpg  # type: ignore[import-untyped]

    name = f"ore_bench_{uuid.uuid4().hex[:12]}"
    connection = await asyncpg.connect(admin_dsn)
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    try:
        yield f"{admin_dsn.rsplit('/', 1)[0]}/{name}"
    finally:
        connection = await asyncpg.connect(admin_dsn)
        try:
            await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await connection.close()


async def start_ore(
    stack: AsyncExitStack, tmp: Path, database: str, args: argparse.Namespace
) -> tuple[str, subprocess.Popen[bytes]]:
    """``ore serve`` on ``database`` (its base URL and process)."""
    data_dir = tmp / f"ore-{database}"
    data_dir.mkdir()
    port = free_port()
    values = {"DATA_DIR": str(data_dir), "PORT": str(port), "LOG_LEVEL": "WARNING"}
    if database == "postgresql":
        values["SQLALCHEMY_DATABASE_URI"] = await stack.enter_async_context(
            postgres_database(args.pg_dsn)
        )
    log = data_dir / "ore.log"
    command = [sys.executable, "-m", "ore.cli", "serve"]
    child = stack.enter_context(
        process(command, env=ore_environment(**values), cwd=data_dir, log=log)
    )
    url = f"http://127.0.0.1:{port}"
    wait_until(child, url + "/health", log)
    return url, child


async def setup_chat_app(url: str, stub_url: str) -> str:
    """The stub's model with its own credentials (``openai_api_compatible`` lists only the
    models added so), a chat app on it and an app key; the key."""
    async with console(url) as http:
        added = await http.post(
            f"/workspaces/current/model-providers/{ORE_PROVIDER}/models/credentials",
            json={
                "model": STUB_MODEL,
                "model_type": "llm",
                "credentials": {"base_url": stub_url},
            },
        )
        _expect(added, 201, "model credentials")
        created = await http.post("/apps", json={"name": "Chat bench", "mode": "chat"})
        _expect(created, 201, "create app")
        app_id = created.json()["id"]
        model = {
            "provider": ORE_PROVIDER,
            "name": STUB_MODEL,
            "mode": "chat",
            "completion_params": {},
        }
        config = await http.post(
            f"/apps/{app_id}/model-config", json={"model": model, "pre_prompt": ""}
        )
        _expect(config, 200, "model config")
        key = await http.post(f"/apps/{app_id}/api-keys")
        _expect(key, 201, "app key")
    return str(key.json()["token"])


@contextmanager
def py_spy(pid: int, directory: Path | None, database: str) -> Iterator[None]:
    """With ``directory``: py-spy samples ``pid`` meanwhile, into collapsed stacks
    ``ore-<database>.txt`` there (idle frames left out); else nothing."""
    if directory is None:
        yield
        return
    directory.mkdir(parents=True, exist_ok=True)
    binary = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    output = directory / f"ore-{database}.txt"
    command = [binary, "record", "--pid", str(pid), "--format", "raw", "--rate", "200"]
    command += ["--output", str(output), "--nonblocking"]
    recorder = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        yield
    finally:
        recorder.send_signal(signal.SIGINT)  # py-spy writes its output on an interrupt
        _, errors = recorder.communicate(timeout=60)
        print(f"  py-spy: {output} ({errors.decode(errors='replace').strip()[-200:]})")


def _expect(response: httpx.Response, status: int, what: str) -> None:
    if response.status_code != status:
        raise RuntimeError(f"{what}: {response.status_code} {response.text[:300]}")


async def check_target(target: Target, users: Users, expected: str) -> None:
    """One streamed answer must carry the stub's text before anything is measured."""
    connection = target.connect(users.take(), QUERY)
    try:
        status, content, _ = await connection.post()
    finally:
        await connection.close()
    if status != 200 or content != expected:
        raise RuntimeError(f"{target.name}: {status} {content[:300]!r}")


# --- measuring -------------------------------------------------------------------------------


async def measure_database(
    database: str, stub_url: str, expected: str, tmp: Path, args: argparse.Namespace
) -> DatabaseRun:
    async with AsyncExitStack() as stack:
        url, ore = await start_ore(stack, tmp, database, args)
        key = await setup_chat_app(url, stub_url)
        users = Users()
        targets = [direct_target(stub_url), ore_target(url, key)]
        for target in targets:
            await check_target(target, users, expected)
        setup_rss = peak_rss_mb(ore.pid)
        stub = await stack.enter_async_context(
            httpx.AsyncClient(base_url=stub_url.removesuffix("/v1"), timeout=10)
        )
        scenarios = []
        with py_spy(ore.pid, args.py_spy, database):
            for concurrency in args.concurrency:
                scenarios.append(
                    await measure_scenario(
                        targets, users, ore.pid, concurrency, stub, expected, args
                    )
                )
                print(f"  {database}: done c={concurrency}", flush=True)
            for concurrency in args.concurrency if args.paced else []:
                scenarios.append(
                    await measure_paced(targets, users, ore.pid, concurrency, stub, args)
                )
                print(f"  {database}: done c={concurrency}, paced", flush=True)
        reset_peak_rss(ore.pid)
        bursts = [await open_streams(target, users, stub, expected, args) for target in targets]
        burst_rss = peak_rss_mb(ore.pid)
        print(f"  {database}: done {args.open_streams} open streams", flush=True)
        if ore.poll() is not None:
            raise RuntimeError(f"ore exited with {ore.returncode} while measured")
    return DatabaseRun(database, scenarios, bursts, setup_rss, burst_rss)


async def measure_scenario(
    targets: list[Target],
    users: Users,
    ore_pid: int,
    concurrency: int,
    stub: httpx.AsyncClient,
    expected: str,
    args: argparse.Namespace,
) -> Scenario:
    scenario = Scenario(concurrency)
    cells = [scenario.direct, scenario.ore]
    per_round = max(1, args.requests // args.rounds)
    reset = reset_peak_rss(ore_pid)
    cpu_before = cpu_seconds(ore_pid)
    for _ in range(args.rounds):
        for target, cell in zip(targets, cells, strict=True):
            await drive(
                partial(_fresh_connection, target, users),
                concurrency=concurrency,
                requests=per_round,
                cap_seconds=args.cap_seconds,
                expected=expected,
                stub=stub,
                cell=cell,
            )
    scenario.rss_mb = peak_rss_mb(ore_pid) if reset else float("nan")
    warm_ups = args.rounds * default_warm_up_rounds(concurrency) * concurrency
    served = scenario.ore.done + warm_ups
    scenario.cpu_ms = (cpu_seconds(ore_pid) - cpu_before) * 1000 / served
    return scenario


async def measure_paced(
    targets: list[Target],
    users: Users,
    ore_pid: int,
    concurrency: int,
    stub: httpx.AsyncClient,
    args: argparse.Namespace,
) -> Scenario:
    """Paced answers at ``concurrency``: one round per target, a warm-up request per
    connection, then at least 4 answers per connection (10 in all at the least)."""
    pacing: Pacing = args.paced
    scenario = Scenario(concurrency, pacing)
    requests = max(10, 4 * concurrency)
    stream = pacing.stream_seconds
    cap = max(args.cap_seconds, 3 * stream * requests / concurrency + stream)
    reset = reset_peak_rss(ore_pid)
    cpu_before = cpu_seconds(ore_pid)
    for target, cell in zip(targets, (scenario.direct, scenario.ore), strict=True):
        await drive(
            partial(_fresh_connection, target, users, pacing.query),
            concurrency=concurrency,
            requests=requests,
            cap_seconds=cap,
            expected=stub_answer(args.nonce_value, pacing.words),
            stub=stub,
            cell=cell,
            warm_up_rounds=1,
            stagger=stream,
        )
    scenario.rss_mb = peak_rss_mb(ore_pid) if reset else float("nan")
    served = scenario.ore.done + concurrency
    scenario.cpu_ms = (cpu_seconds(ore_pid) - cpu_before) * 1000 / served
    return scenario


def _fresh_connection(target: Target, users: Users, query: str = QUERY) -> RawConnection:
    return target.connect(users.take(), query)


async def open_streams(
    target: Target,
    users: Users,
    stub: httpx.AsyncClient,
    expected: str,
    args: argparse.Namespace,
) -> OpenStreams:
    """``args.open_streams`` slow streams started together; each must answer in full."""
    pause = args.hold_seconds / (len(STUB_WORDS) + 3)  # role, words, nonce, finish
    query = f"{QUERY} trickle={pause:.3f}"
    connections = [target.connect(users.take(), query) for _ in range(args.open_streams)]
    (await stub.post("/stats/reset")).raise_for_status()
    calls_before = int((await stub.get("/stats")).json()["chat_calls"])
    start = time.perf_counter()
    results = await asyncio.gather(
        *(connection.post() for connection in connections), return_exceptions=True
    )
    seconds = time.perf_counter() - start
    for connection in connections:
        await connection.close()
    stats = (await stub.get("/stats")).json()
    errors, first_error, ttfts = 0, "", []
    for result in results:
        if isinstance(result, BaseException):
            errors += 1
            first_error = first_error or repr(result)
            continue
        status, content, ttft = result
        if status != 200 or content != expected or ttft is None:
            errors += 1
            first_error = first_error or f"{status} {content[:160]!r}"
        else:
            ttfts.append(ttft)
    calls = int(stats["chat_calls"]) - calls_before
    if calls != len(connections):
        errors = max(errors, abs(len(connections) - calls))
        first_error = first_error or f"stub saw {calls} calls for {len(connections)}"
    return OpenStreams(
        target.name,
        len(connections),
        errors,
        int(stats["peak_streams"]),
        seconds,
        ttfts,
        first_error,
    )


# --- the report ------------------------------------------------------------------------------


def report(run: DatabaseRun, args: argparse.Namespace) -> None:
    head = (
        f"{'scenario':<8} {'target':<7} {'n':>5} {'err':>4} {'req/s':>6} {'ttft50':>7} "
        f"{'ttft99':>7} {'p50':>7} {'p99':>7} | {'+ttft50':>7} {'+ttft99':>7} {'rss MB':>7} "
        f"{'cpu/req':>7}"
    )
    print(f"\n{run.database}\n{head}\n{'-' * len(head)}")
    for scenario in run.scenarios:
        for index, cell in enumerate((scenario.direct, scenario.ore)):
            paced = "p" if scenario.pacing else ""
            label = f"c={scenario.concurrency}{paced}" if index == 0 else ""
            line = (
                f"{label:<8} {('direct', 'ore')[index]:<7} {cell.done:>5} {cell.errors:>4} "
                f"{cell.rps:>6.0f} {_ms(percentile(cell.ttfts, 0.5))} "
                f"{_ms(percentile(cell.ttfts, 0.99))} {_ms(percentile(cell.latencies, 0.5))} "
                f"{_ms(percentile(cell.latencies, 0.99))} |"
            )
            if index:
                line += (
                    f" {_ms(_added(cell.ttfts, scenario.direct.ttfts, 0.5))}"
                    f" {_ms(_added(cell.ttfts, scenario.direct.ttfts, 0.99))}"
                    f" {_ms(scenario.rss_mb)} {_ms(scenario.cpu_ms)}"
                )
            print(line)
            if cell.first_error:
                print(f"{'':<8} first error: {cell.first_error}")
    for burst in run.bursts:
        print(
            f"{burst.streams} open streams, {burst.name}: {burst.errors} errors, "
            f"{burst.peak_at_stub} open at once at the stub, all done in {burst.seconds:.2f} s, "
            f"ttft p50 {percentile(burst.ttfts, 0.5):.1f} ms p99 "
            f"{percentile(burst.ttfts, 0.99):.1f} ms"
        )
        if burst.first_error:
            print(f"  first error: {burst.first_error}")
    if args.paced:
        print(f"c=Np: paced answers ({args.paced}); connections start staggered")
    print(
        f"ore peak RSS: {run.setup_rss_mb:.0f} MB through start and setup, "
        f"{max([s.rss_mb for s in run.scenarios] + [run.burst_rss_mb]):.0f} MB at most while "
        f"measured ({run.burst_rss_mb:.0f} MB with {args.open_streams} open streams)"
    )
    verdict(run, args)


def verdict(run: DatabaseRun, args: argparse.Namespace) -> None:
    for scenario in run.scenarios:
        limit = TTFT_TARGETS.get(scenario.concurrency)
        if limit is None:
            continue
        added = _added(scenario.ore.ttfts, scenario.direct.ttfts, 0.5)
        met = added < limit and scenario.ore.errors == 0
        how = f", paced ({scenario.pacing})" if scenario.pacing else ", back to back"
        print(
            f"{run.database}: added p50 ttft at c={scenario.concurrency}{how}: {added:.2f} ms, "
            f"{scenario.ore.errors} errors (target < {limit:.0f} ms: "
            f"{'met' if met else 'NOT met'})"
        )
    ore = next(burst for burst in run.bursts if burst.name == "ore")
    held = ore.errors == 0 and ore.peak_at_stub >= args.open_streams
    print(
        f"{run.database}: {args.open_streams} concurrent open streams through ore: "
        f"{ore.errors} errors, {ore.peak_at_stub} open at once "
        f"(target >= 200, no error: {'met' if held and args.open_streams >= 200 else 'NOT met'})"
    )


def _ms(value: float) -> str:
    return f"{'-':>7}" if math.isnan(value) else f"{value:>7.2f}"


def _added(samples: list[float], base: list[float], fraction: float) -> float:
    return percentile(samples, fraction) - percentile(base, fraction)


# --- the run ---------------------------------------------------------------------------------


async def run(args: argparse.Namespace) -> None:
    nonce = secrets.token_hex(6)
    args.nonce_value = nonce
    expected = stub_answer(nonce)
    runs: list[DatabaseRun] = []
    with tempfile.TemporaryDirectory(prefix="ore-chat-bench-") as name:
        tmp = Path(name)
        port = free_port()
        stub_command = [sys.executable, __file__, "--stub", "--port", str(port), "--nonce", nonce]
        log = tmp / "stub.log"
        with process(stub_command, env=dict(os.environ), cwd=tmp, log=log) as stub:
            stub_url = f"http://127.0.0.1:{port}/v1"
            wait_until(stub, stub_url + "/models", log)
            for database in args.databases:
                print(f"measuring ore on {database} ...", flush=True)
                try:
                    runs.append(await measure_database(database, stub_url, expected, tmp, args))
                except Exception as exc:  # report and measure the other database
                    print(f"{database}: not measured: {exc}", flush=True)
    print(
        f"\n{args.requests} streamed requests per target and scenario in {args.rounds} "
        f"interleaved rounds (cap {args.cap_seconds:.0f} s per round); ms; +: added to the "
        f"direct stub calls of the same scenario; rss: ore's peak RSS in the scenario (MB); "
        f"cpu/req: ore's CPU ms per request it served; stub, ore and the load generator "
        f"share {os.cpu_count()} CPUs (load average at the end {os.getloadavg()[0]:.1f})"
    )
    for database_run in runs:
        report(database_run, args)


def _pacing(value: str) -> Pacing | None:
    if not value:
        return None
    words, _, ms = value.partition(":")
    pacing = Pacing(int(words), float(ms or 20) / 1000)
    if pacing.words < 2 or pacing.seconds <= 0:
        raise argparse.ArgumentTypeError("WORDS must be 2 or more and MS above 0")
    return pacing


def _csv(kind: Callable[[str], Any]) -> Callable[[str], list[Any]]:
    return lambda value: [kind(item) for item in value.split(",") if item]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--cap-seconds", type=float, default=15.0)
    parser.add_argument(
        "--concurrency",
        type=_csv(int),
        default=[1, 16, 64],
        help="comma-separated concurrency levels (default 1,16,64)",
    )
    parser.add_argument(
        "--databases",
        type=_csv(str),
        default=["sqlite", "postgresql"],
        help="comma-separated: sqlite, postgresql (default both)",
    )
    parser.add_argument("--pg-dsn", default=DEFAULT_PG_DSN, help="PostgreSQL admin DSN")
    parser.add_argument(
        "--paced",
        type=_pacing,
        default=Pacing(100, 0.020),
        metavar="WORDS:MS",
        help="paced answers measured after the back-to-back ones (default 100:20; '' skips)",
    )
    parser.add_argument("--open-streams", type=int, default=200)
    parser.add_argument(
        "--hold-seconds",
        type=float,
        default=20.0,
        help="how long the stub trickles each of the open streams (default 20)",
    )
    parser.add_argument(
        "--py-spy",
        type=Path,
        default=None,
        metavar="DIR",
        help="sample ore with py-spy while the scenarios run; collapsed stacks into DIR",
    )
    parser.add_argument("--stub", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--nonce", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.stub:
        run_stub(args.port, args.nonce)
    else:
        asyncio.run(run(args))


if __name__ == "__main__":
    main()
