"""`ore worker` refuses without a broker; `ore tasks list` shows runs and their state."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from ore.cli import app
from ore.config import Settings
from ore.extensions.database import Database
from ore.extensions.tasks.runs import enqueue

runner = CliRunner()


@pytest.fixture
def cli_env(settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.chdir(tmp_path)  # no stray .env is read
    monkeypatch.setenv("SQLALCHEMY_DATABASE_URI", settings.database_url)
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    monkeypatch.setenv("SECRET_KEY", settings.SECRET_KEY)
    monkeypatch.setenv("LOG_LEVEL", "WARNING")
    return settings


def test_worker_refuses_without_a_broker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    result = runner.invoke(app, ["worker", "--pool", "solo"])
    assert result.exit_code == 2
    assert "CELERY_BROKER_URL is empty" in result.output
    assert runner.invoke(app, ["worker", "--help"]).exit_code == 0


async def test_tasks_list_shows_runs(cli_env: Settings) -> None:
    db = Database(cli_env)
    try:
        async with db.unit_of_work() as session:
            run_id = enqueue(session, "debug.sleep", {"seconds": 1})
    finally:
        await db.dispose()

    # The command runs its own event loop: call it from a thread.
    def invoke(*args: str) -> Result:
        return runner.invoke(app, ["tasks", "list", "--json", *args])

    queued = await asyncio.to_thread(invoke, "--status", "queued")
    assert queued.exit_code == 0, queued.output
    rows = json.loads(queued.output)
    assert [(row["id"], row["name"], row["status"]) for row in rows] == [
        (str(run_id), "debug.sleep", "queued")
    ]
    errors = await asyncio.to_thread(invoke, "--status", "error")
    assert errors.exit_code == 0, errors.output
    assert json.loads(errors.output) == []
    table = await asyncio.to_thread(runner.invoke, app, ["tasks", "list"])
    assert table.exit_code == 0, table.output
    assert "queued" in table.output
