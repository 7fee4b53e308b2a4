"""Helpers for task tests: wait (bounded) for a run to reach a state; a process's parts."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Container
from typing import NamedTuple

from ore.core.kv import KV
from ore.extensions.database import Database
from ore.extensions.model_runtime import ModelRuntime
from ore.models import TaskRun

ENDED = ("completed", "error")


class ProcessParts(NamedTuple):
    """What a task backend hands its tasks besides settings and the database."""

    kv: KV
    models: ModelRuntime


async def load_run(db: Database, run_id: uuid.UUID) -> TaskRun | None:
    async with db.unit_of_work() as session:
        return await session.get(TaskRun, run_id)


async def wait_for_run(
    db: Database, run_id: uuid.UUID, statuses: Container[str] = ENDED, *, timeout: float = 30
) -> TaskRun:
    """The run once its status is one of ``statuses``; fails after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    run = None
    while time.monotonic() < deadline:
        run = await load_run(db, run_id)
        if run is not None and run.status in statuses:
            return run
        await asyncio.sleep(0.05)
    state = None if run is None else (run.status, run.error)
    raise AssertionError(f"task run {run_id} did not reach {statuses} in {timeout} s: {state}")
