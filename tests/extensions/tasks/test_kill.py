"""SIGKILL `ore serve` while a task runs: after a restart the task ends, never stuck running."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from ore.extensions.database import Database
from ore.extensions.tasks import current_backend, enqueue
from ore.models import TaskStatus
from tests.conftest import make_settings
from tests.extensions.tasks.helpers import load_run, wait_for_run
from tests.processes import free_port, start_serve, stop, wait_healthy

SERVE_SETTINGS = {
    "DB_TYPE": "sqlite",
    "MIGRATION_ENABLED": "true",
    "SECRET_KEY": "kill-test-secret-key-0123456789abcdef",
    "TASK_POLL_INTERVAL": "0.2",
}


@pytest.mark.slow
async def test_task_of_a_killed_server_is_resumed_after_restart(tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = start_serve(tmp_path, port, **SERVE_SETTINGS)
    # The test process talks to the same SQLite file; it starts no backend, so the row is
    # only stored and the server finds it by polling.
    settings = make_settings(f"sqlite+aiosqlite:///{tmp_path / 'ore.db'}", tmp_path)
    db = Database(settings)
    try:
        wait_healthy(server, url, tmp_path)
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

        server = start_serve(tmp_path, port, **SERVE_SETTINGS)
        wait_healthy(server, url, tmp_path)
        run = await wait_for_run(db, run_id, timeout=40)
    finally:
        stop(server)
        await db.dispose()

    assert run.status == TaskStatus.COMPLETED, run.error
    assert run.attempts == 2  # resumed by the restarted server
    assert run.result == {"slept": 2.0, "steps": 4, "attempt": 2}
