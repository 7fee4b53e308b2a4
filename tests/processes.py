"""Real ore processes for tests: `ore serve` on a free loopback port, and clean stops."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from ore.config import Settings


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def ore_environment(**values: str) -> dict[str, str]:
    """The caller's environment without any ore setting, plus ``values``."""
    env = {key: value for key, value in os.environ.items() if key not in Settings.model_fields}
    return env | values


def start_ore(*args: str, data_dir: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    """``ore <args>`` in ``data_dir``, its output appended to ``data_dir/ore.log``."""
    return subprocess.Popen(
        [sys.executable, "-m", "ore.cli", *args],
        env=env,
        cwd=data_dir,
        stdout=(data_dir / "ore.log").open("ab"),
        stderr=subprocess.STDOUT,
    )


def start_serve(data_dir: Path, port: int, **settings: str) -> subprocess.Popen[bytes]:
    env = ore_environment(DATA_DIR=str(data_dir), PORT=str(port), LOG_LEVEL="WARNING", **settings)
    return start_ore("serve", data_dir=data_dir, env=env)


def wait_healthy(server: subprocess.Popen[bytes], url: str, data_dir: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            log = (data_dir / "ore.log").read_text(errors="replace")
            raise AssertionError(f"ore exited with {server.returncode}: {log[-2000:]}")
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError("ore serve did not become healthy in 60 s")


def stop(process: subprocess.Popen[bytes], timeout: float = 20) -> None:
    """SIGTERM, then SIGKILL if it does not leave in time."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
