"""The in-process runner on SQLite and PostgreSQL: one state machine, ids as arguments."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from datetime import datetime
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from ore.config import Settings
from ore.extensions.context import OreContext
from ore.extensions.database import Database
from ore.extensions.metrics import registry
from ore.extensions.tasks import TaskContext, create_task_backend, enqueue, get_task, task
from ore.extensions.tasks.inprocess import InProcessRunner
from ore.models import TaskRun, TaskStatus, utcnow
from tests.extensions.tasks.helpers import ProcessParts, load_run, wait_for_run

# Module-level records of what the test tasks saw (the runner runs them in this process).
SEEN: list[str] = []
ACTIVE = {"now": 0, "max": 0}


@task("tests.fail")
async def fail(ctx: TaskContext, message: str) -> None:
    raise ValueError(message)


@task("tests.record")
async def record(ctx: TaskContext, marker: str) -> dict[str, Any]:
    SEEN.append(marker)
    return {"marker": marker, "attempt": ctx.attempt}


@task("tests.overlap")
async def overlap(ctx: TaskContext, marker: str) -> None:
    ACTIVE["now"] += 1
    ACTIVE["max"] = max(ACTIVE["max"], ACTIVE["now"])
    try:
        await asyncio.sleep(0.05)
        SEEN.append(marker)
    finally:
        ACTIVE["now"] -= 1


@pytest.fixture(autouse=True)
def _reset_records() -> None:
    SEEN.clear()
    ACTIVE.update(now=0, max=0)


def _context(app: FastAPI) -> OreContext:
    context: OreContext = app.state.ore
    return context


async def _enqueue(db: Database, name: str, args: dict[str, Any]) -> uuid.UUID:
    async with db.unit_of_work() as session:
        return enqueue(session, name, args)


def _finished(name: str, status: str) -> float:
    value = registry.get_sample_value("ore_tasks_total", {"name": name, "status": status})
    return value or 0.0


async def test_debug_sleep_runs_to_completed_with_progress(app: FastAPI) -> None:
    context = _context(app)
    assert context.tasks.name == "inprocess"
    before = _finished("debug.sleep", "completed")

    run_id = await _enqueue(context.db, "debug.sleep", {"seconds": 0.05, "steps": 2})
    run = await wait_for_run(context.db, run_id)

    assert run.status == TaskStatus.COMPLETED, run.error
    assert run.result == {"slept": 0.05, "steps": 2, "attempt": 1}
    assert run.progress == {"step": 2, "steps": 2}
    assert run.attempts == 1
    assert run.backend == "inprocess"
    assert run.error is None
    assert run.started_at is not None and run.finished_at is not None
    assert run.finished_at >= run.started_at
    assert _finished("debug.sleep", "completed") == before + 1
    assert registry.get_sample_value("ore_tasks_running", {"name": "debug.sleep"}) == 0


async def test_failing_task_ends_in_error_with_its_message(app: FastAPI) -> None:
    context = _context(app)
    before = _finished("tests.fail", "error")

    run_id = await _enqueue(context.db, "tests.fail", {"message": "the disk is full (42)"})
    run = await wait_for_run(context.db, run_id)

    assert run.status == TaskStatus.ERROR
    assert run.error == "ValueError: the disk is full (42)"
    assert run.result is None
    assert _finished("tests.fail", "error") == before + 1


async def test_unknown_task_and_bad_arguments_end_in_error(app: FastAPI) -> None:
    context = _context(app)
    unknown = await _enqueue(context.db, "tests.no_such_task", {})
    wrong_args = await _enqueue(context.db, "tests.record", {"no_such_argument": 1})

    unknown_run = await wait_for_run(context.db, unknown)
    wrong_run = await wait_for_run(context.db, wrong_args)

    assert unknown_run.status == TaskStatus.ERROR
    assert "no task named 'tests.no_such_task'" in (unknown_run.error or "")
    assert wrong_run.status == TaskStatus.ERROR
    assert "no_such_argument" in (wrong_run.error or "")


async def test_enqueue_in_a_unit_of_work_that_rolls_back_never_runs(app: FastAPI) -> None:
    context = _context(app)
    rolled_back: list[uuid.UUID] = []
    with pytest.raises(RuntimeError, match="request failed"):
        async with context.db.unit_of_work() as session:
            rolled_back.append(enqueue(session, "tests.record", {"marker": "rolled-back"}))
            await session.flush()  # the row was written inside the transaction
            raise RuntimeError("request failed")

    # A later committed task runs; by then the runner has looked many times.
    committed = await _enqueue(context.db, "tests.record", {"marker": "committed"})
    run = await wait_for_run(context.db, committed)
    assert run.status == TaskStatus.COMPLETED
    await asyncio.sleep(3 * context.settings.TASK_POLL_INTERVAL)

    assert SEEN == ["committed"]
    assert await load_run(context.db, rolled_back[0]) is None


async def test_concurrency_is_bounded(
    database_url: str, tmp_path: Any, _clean_tables: None, parts: ProcessParts
) -> None:
    from tests.conftest import make_settings

    settings = make_settings(database_url, tmp_path, TASK_RUNNER_CONCURRENCY=2)
    db = Database(settings)
    runner = create_task_backend(settings, db, *parts)
    await runner.start()
    try:
        ids = [await _enqueue(db, "tests.overlap", {"marker": str(n)}) for n in range(6)]
        runs = [await wait_for_run(db, run_id) for run_id in ids]
    finally:
        await runner.stop()
        await db.dispose()
    assert [run.status for run in runs] == [TaskStatus.COMPLETED] * 6
    assert sorted(SEEN) == [str(n) for n in range(6)]
    assert 1 <= ACTIVE["max"] <= 2


async def test_two_runners_never_take_the_same_run(settings: Settings, parts: ProcessParts) -> None:
    dbs = [Database(settings), Database(settings)]
    runners = [InProcessRunner(settings, db, *parts) for db in dbs]
    # Rows are inserted while no runner is current, so only polling finds them.
    async with dbs[0].unit_of_work() as session:
        ids = [enqueue(session, "tests.record", {"marker": str(n)}) for n in range(12)]
    for runner in runners:
        await runner.start()
    try:
        runs = [await wait_for_run(dbs[0], run_id) for run_id in ids]
    finally:
        for runner in runners:
            await runner.stop()
        for db in dbs:
            await db.dispose()
    assert Counter(SEEN) == Counter(str(n) for n in range(12))  # each ran exactly once
    assert all(run.status == TaskStatus.COMPLETED and run.attempts == 1 for run in runs)


async def _insert_running(
    db: Database, *, attempts: int, max_attempts: int, heartbeat_at: datetime | None = None
) -> uuid.UUID:
    run = TaskRun(
        name="debug.sleep",
        args={"seconds": 0.01},
        status=TaskStatus.RUNNING,
        backend="inprocess",
        attempts=attempts,
        max_attempts=max_attempts,
        worker_id="another-host:1:x",
        heartbeat_at=heartbeat_at,
    )
    async with db.unit_of_work() as session:
        session.add(run)
    return run.id


async def test_start_recovers_runs_a_dead_process_left_running(
    settings: Settings, parts: ProcessParts
) -> None:
    db = Database(settings)
    try:
        resumable = await _insert_running(db, attempts=1, max_attempts=3)
        exhausted = await _insert_running(db, attempts=3, max_attempts=3)
        # Another host's run with a fresh heartbeat may still be alive: left alone.
        alive = await _insert_running(db, attempts=1, max_attempts=3, heartbeat_at=utcnow())
        runner = InProcessRunner(settings, db, *parts)
        await runner.start()
        try:
            resumed = await wait_for_run(db, resumable)
            ended = await wait_for_run(db, exhausted)
        finally:
            await runner.stop()
        async with db.unit_of_work() as session:
            left = await session.scalar(
                select(func.count()).where(TaskRun.status == TaskStatus.RUNNING)
            )
        untouched = await load_run(db, alive)
    finally:
        await db.dispose()
    assert resumed.status == TaskStatus.COMPLETED
    assert resumed.attempts == 2
    assert resumed.worker_id == runner.worker_id
    assert ended.status == TaskStatus.ERROR
    assert ended.error is not None
    assert ended.error.startswith("interrupted")
    assert ended.error.endswith("after 3 attempts")
    assert left == 1
    assert untouched is not None
    assert untouched.status == TaskStatus.RUNNING
    assert untouched.attempts == 1


async def test_stop_leaves_a_long_task_to_recovery(settings: Settings, parts: ProcessParts) -> None:
    db = Database(settings)
    try:
        runner = InProcessRunner(settings, db, *parts, stop_grace=0.1)
        await runner.start()
        run_id = await _enqueue(db, "debug.sleep", {"seconds": 30, "steps": 30})
        await wait_for_run(db, run_id, ("running",))
        await runner.stop()
        assert (await wait_for_run(db, run_id, ("running",))).attempts == 1

        # The next start takes it up again.
        again = InProcessRunner(settings, db, *parts, stop_grace=0.1)
        await again.start()
        try:
            running = await wait_for_run(db, run_id, ("running",))
            assert running.attempts == 2
            assert running.worker_id == again.worker_id
        finally:
            await again.stop()
    finally:
        await db.dispose()


def test_task_names_are_dotted_and_unique() -> None:
    with pytest.raises(ValueError, match="dotted"):
        task("nodots")

    async def other(ctx: TaskContext) -> None:
        return None

    with pytest.raises(ValueError, match="already registered"):
        task("debug.sleep")(other)
    definition = get_task("mail.send_invitation")
    assert definition is not None
    assert definition.queue == "mail"
    assert definition.secret_args == ("url",)
