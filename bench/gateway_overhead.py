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
import subprocess
import sys
import tempfile
from collections.abc import Awaitable, Callable
from contextlib import ExitStack
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import httpx

from _common import (
    ORE_PROVIDER,
    STUB_MODEL,
    Cell,
    RawConnection,
    add_stub_credentials,
    completion_delta_text,
    completion_message_text,
    console,
    drive,
    free_port,
    ore_environment,
    percentile,
    process,
    run_stub,
    stub_answer,
    wait_until,
)

DEFAULT_LITELLM_VENV = Path.home() / ".cache" / "ore-bench" / "litellm-venv"
PROMPT = [{"role": "user", "content": "Say hello."}]

# --- the raw load generator ------------------------------------------------------------------


@dataclass
class Target:
    name: str
    url: str  # base URL, the OpenAI-style /v1 prefix included
    model: str
    headers: dict[str, str]


def completions_connection(target: Target, stream: bool) -> RawConnection:
    """A raw connection posting the bench's chat request to ``target``'s /chat/completions."""
    body: dict[str, Any] = {"model": target.model, "messages": PROMPT, "stream": stream}
    if stream:
        body["stream_options"] = {"include_usage": True}
    return RawConnection(
        target.url + "/chat/completions",
        body,
        target.headers,
        stream=stream,
        sse_text=completion_delta_text,
        body_text=completion_message_text,
    )


# --- processes -------------------------------------------------------------------------------


async def setup_ore(url: str, stub_url: str) -> dict[str, str]:
    """Admin, gateway key and provider credentials through the console API; the key's header."""
    async with console(url) as http:
        key = await http.post("/workspaces/current/gateway-keys")
        key.raise_for_status()
        await add_stub_credentials(http, stub_url)
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
        content = completion_message_text(reply.content) if reply.status_code == 200 else reply.text
        if content != expected:
            raise RuntimeError(f"blocking answer {reply.status_code}: {content[:300]!r}")
        streamed = ""
        async with http.stream("POST", "/chat/completions", json=body | {"stream": True}) as sse:
            async for line in sse.aiter_lines():
                streamed += completion_delta_text(line.encode())
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
                            partial(completions_connection, target, stream),
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
    expected = stub_answer(nonce)
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
        run_stub(args.port, args.nonce)
    else:
        asyncio.run(run(args))


if __name__ == "__main__":
    main()
