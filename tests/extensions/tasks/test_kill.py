"""SIGKILL `ore serve` while a task runs: after a restart the task ends, never stuck running."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from ore.config import Settings
from ore.extensions.database import Database
from ore.extensions.tasks import current_backend, enqueue
from ore.models import TaskStatus
from tests.conftest import make_settings
from tests.extensions.tasks.helpers import load_run, wait_for_run


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _start_server(data_dir: Path, port: int) -> subprocess.Popen[bytes]:
    env = {key: value for key, value in os.environ.items() if key not in Settings.model_fields}
    env |= {
        "DATA_DIR": str(data_dir),
        "DB_TYPE": "sqlite",
        "MIGRATION_ENABLED": "true",
        "SECRET_KEY": "kill-test-secret-key-0123456789abcdef",
        "PORT": str(port),
        "TASK_POLL_INTERVAL": "0.2",
        "LOG_LEVEL": "WARNING",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "ore.cli", "serve"],
        env=env,
        cwd=data_dir,
        stdout=subprocess.DEVNULL,
        stderr=(data_dir / "serve.log").open("ab"),
    )


def _wait_healthy(server: subprocess.Popen[bytes], url: str, log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise AssertionError(f"ore serve exited: {log.read_text()[-2000:]}")
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError("ore serve did not become healthy in 60 s")


def _terminate(server: subprocess.Popen[bytes]) -> None:
    if server.poll() is None:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


@pytest.mark.slow
async def test_task_of_a_killed_server_is_resumed_after_restart(tmp_path: Path) -> None:
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "serve.log"
    server = _start_server(tmp_path, port)
    # The test process talks to the same SQLite file; it starts no backend, so the row is
    # only stored and the server finds it by polling.
    settings = make_settings(f"sqlite+aiosqlite:///{tmp_path / 'ore.db'}", tmp_path)
    db = Database(settings)
    try:
        _wait_healthy(server, url, log)
        assert current_backend() is None
        async with db.unit_of_work() as session:
            run_id = enqueue(session, "debug.sleep", {"seconds": 2, "steps": 4})

        await wait_for_run(db, run_id, (TaskStatus.RUNNING,), timeout=30)
        server.send_signal(signal.SIGKILL)
        server.wait(timeout=10)
        killed = await load_run(db, run_id)
        assert killed is not None
        assert killed.status == TaskStatus.RUNNING  # nobody recorded an end
        assert killed.attempts == 1

        server = _start_server(tmp_path, port)
        _wait_healthy(server, url, log)
        run = await wait_for_run(db, run_id, timeout=40)
    finally:
        _terminate(server)
        await db.dispose()

    assert run.status == TaskStatus.COMPLETED, run.error
    assert run.attempts == 2  # resumed by the restarted server
    assert run.result == {"slept": 2.0, "steps": 4, "attempt": 2}
