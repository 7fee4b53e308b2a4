"""The in-process task runner of embedded mode (used when CELERY_BROKER_URL is empty).

A loop in the API process claims queued ``task_runs`` rows and runs them as asyncio tasks,
at most TASK_RUNNER_CONCURRENCY at a time, with the API process's KV and model runtime.
It is woken right after a unit of work that enqueued something commits, and otherwise
looks every TASK_POLL_INTERVAL seconds, so rows inserted by another process (a CLI
command, a test) run too.

State lives in the database. The runner refreshes the heartbeat of its running rows every
HEARTBEAT_INTERVAL seconds; on start, and every RECOVERY_INTERVAL after, runs left
``running`` by a process that is gone (dead pid on this host, or a heartbeat older than
STALE_AFTER) are queued again or, out of attempts, end in error.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Awaitable
from datetime import timedelta

from ore.config import Settings
from ore.core.kv import KV
from ore.extensions.database import Database
from ore.extensions.model_runtime import ModelRuntime
from ore.extensions.tasks.runs import (
    beat,
    claim_queued,
    clear_current_backend,
    default_worker_id,
    execute,
    recover_interrupted,
    register_live_worker,
    set_current_backend,
    unregister_live_worker,
)
from ore.models import TaskRun

logger = logging.getLogger(__name__)

HEARTBEAT_INTERVAL = 30.0
RECOVERY_INTERVAL = 60.0
STALE_AFTER = timedelta(seconds=4 * HEARTBEAT_INTERVAL)


class InProcessRunner:
    name = "inprocess"

    def __init__(
        self,
        settings: Settings,
        db: Database,
        kv: KV,
        models: ModelRuntime,
        *,
        stop_grace: float = 5.0,
    ) -> None:
        self.settings = settings
        self.db = db
        self.kv = kv
        self.models = models
        self.worker_id = f"{default_worker_id()}:{uuid.uuid4().hex[:8]}"
        self._concurrency = settings.TASK_RUNNER_CONCURRENCY
        self._interval = settings.TASK_POLL_INTERVAL
        self._stop_grace = stop_grace
        self._wake = asyncio.Event()
        self._running: set[asyncio.Task[None]] = set()
        self._loop_task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        register_live_worker(self.worker_id)
        await self._recover()
        self._loop_task = asyncio.create_task(self._poll_loop(), name="ore.task-runner")
        set_current_backend(self)

    async def stop(self) -> None:
        """Stop claiming; give running tasks a short grace, leave the rest to recovery."""
        clear_current_backend(self)
        if self._loop_task is not None:
            self._loop_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop_task
            self._loop_task = None
        if self._running:
            _, pending = await asyncio.wait(self._running, timeout=self._stop_grace)
            for running in pending:
                running.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
            if pending:
                logger.warning(
                    "%d tasks were still running at shutdown; the next start resumes them",
                    len(pending),
                )
        # From now on this runner's leftover runs count as interrupted.
        unregister_live_worker(self.worker_id)

    async def check(self) -> None:
        if self._loop_task is None or self._loop_task.done():
            raise RuntimeError("the in-process task runner is not running")

    async def dispatch(self, run_id: uuid.UUID, name: str) -> None:
        # The row is committed; wake the loop instead of waiting for the next poll.
        self._wake.set()

    async def _poll_loop(self) -> None:
        next_beat = time.monotonic() + HEARTBEAT_INTERVAL
        next_recovery = time.monotonic() + RECOVERY_INTERVAL
        while True:
            self._wake.clear()
            free = self._concurrency - len(self._running)
            if free > 0 and await self._claim_and_spawn(free) == free:
                continue  # maybe more are waiting: look again as soon as a slot frees
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._interval)
            now = time.monotonic()
            if now >= next_beat:
                next_beat = now + HEARTBEAT_INTERVAL
                await self._guarded(beat(self.db, self.worker_id), "refresh heartbeats")
            if now >= next_recovery:
                next_recovery = now + RECOVERY_INTERVAL
                await self._guarded(self._recover(), "recover interrupted tasks")

    async def _recover(self) -> None:
        await recover_interrupted(self.db, backend=self.name, stale_after=STALE_AFTER)

    async def _guarded(self, work: Awaitable[None], what: str) -> None:
        try:
            await work
        except Exception:
            logger.exception("task runner could not %s; retrying later", what)

    async def _claim_and_spawn(self, limit: int) -> int:
        try:
            runs = await claim_queued(
                self.db, backend=self.name, worker_id=self.worker_id, limit=limit
            )
        except Exception:
            logger.exception("could not look for queued tasks; retrying")
            return 0
        for run in runs:
            running = asyncio.create_task(self._run(run), name=f"ore.task:{run.name}")
            self._running.add(running)
            running.add_done_callback(self._finished)
        return len(runs)

    def _finished(self, running: asyncio.Task[None]) -> None:
        self._running.discard(running)
        self._wake.set()

    async def _run(self, run: TaskRun) -> None:
        try:
            await execute(self.db, self.settings, run, kv=self.kv, models=self.models)
        except Exception:
            # Only recording the outcome can fail here (database gone); the row stays
            # running and the next start recovers it.
            logger.exception("task %s (%s): outcome not recorded", run.name, run.id)
