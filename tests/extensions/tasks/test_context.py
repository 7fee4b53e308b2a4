"""A task's context carries its process's KV and model runtime: the API process's under the
in-process runner, the worker process's own (made after the fork) under Celery."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from fastapi import FastAPI

from ore.config import Settings
from ore.core.kv import KV
from ore.extensions.context import OreContext
from ore.extensions.database import Database
from ore.extensions.model_runtime import ModelRuntime
from ore.extensions.tasks import TaskContext, current_backend, enqueue, task
from ore.extensions.tasks.celery_backend import WorkerRuntime
from ore.extensions.tasks.runs import clear_current_backend, set_current_backend
from ore.models import TaskStatus
from tests.conftest import make_settings
from tests.extensions.tasks.helpers import wait_for_run

SEEN: list[tuple[KV, ModelRuntime]] = []


@task("tests.process_parts")
async def process_parts(ctx: TaskContext) -> dict[str, str]:
    SEEN.append((ctx.kv, ctx.models))
    # The KV works from inside the task (same loop as the process that owns it).
    await ctx.kv.set(f"tests:parts:{ctx.task_id}", "seen", ttl=60)
    return {"kv": type(ctx.kv).__name__}


@pytest.fixture(autouse=True)
def _reset() -> None:
    SEEN.clear()


async def _enqueue(db: Database) -> uuid.UUID:
    async with db.unit_of_work() as session:
        return enqueue(session, "tests.process_parts")


async def test_inprocess_tasks_get_the_api_processs_kv_and_models(app: FastAPI) -> None:
    context: OreContext = app.state.ore
    run = await wait_for_run(context.db, await _enqueue(context.db))

    assert run.status == TaskStatus.COMPLETED, run.error
    assert len(SEEN) == 1
    kv, models = SEEN[0]
    assert kv is context.kv and models is context.models
    assert await context.kv.get(f"tests:parts:{run.id}") == b"seen"


async def test_a_celery_worker_process_hands_its_own_parts_to_every_run(
    database_url: str, tmp_path: pytest.TempPathFactory, _clean_tables: None
) -> None:
    # No broker is contacted: the worker side is driven directly, as Celery would.
    settings: Settings = make_settings(
        database_url, tmp_path, CELERY_BROKER_URL="redis://127.0.0.1:1/0"
    )
    db = Database(settings)
    previous = current_backend()
    runtime = WorkerRuntime(settings)
    try:
        first, second = await _enqueue(db), await _enqueue(db)
        # A worker runs tasks on its own loop, so off this test's loop (in a thread).
        assert await asyncio.to_thread(runtime.run, str(first)) == "completed"
        assert await asyncio.to_thread(runtime.run, str(second)) == "completed"
        await asyncio.to_thread(runtime.close)
        runs = [await wait_for_run(db, run_id) for run_id in (first, second)]
    finally:
        worker_backend = current_backend()
        if worker_backend is not None and worker_backend is not previous:
            clear_current_backend(worker_backend)
        if previous is not None:
            set_current_backend(previous)
        await db.dispose()

    assert [run.status for run in runs] == [TaskStatus.COMPLETED] * 2
    assert len(SEEN) == 2
    (kv, models), again = SEEN
    assert isinstance(models, ModelRuntime)
    assert again[0] is kv and again[1] is models  # one set per worker process
    assert models.kv is kv
