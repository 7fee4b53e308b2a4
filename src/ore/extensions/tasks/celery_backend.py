"""The Celery backend of distributed mode (used when CELERY_BROKER_URL is set).

The API process only sends: each committed run goes to the broker (Redis or RabbitMQ) as
a message carrying the ``task_runs`` id, on the queue of the task (its domain, prefixed
with CELERY_QUEUE_PREFIX). ``ore worker`` registers every ore task with Celery under the
same dotted name and runs the same async function through the same state machine as the
in-process runner (``runs.py``), on one event loop per worker process.

Messages are acknowledged late, so a worker killed mid-task has its message redelivered
and the run taken over (or ended in error once its attempts are used up).
"""

from __future__ import annotations

import asyncio
import logging
import os
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from celery import Celery
from celery.signals import worker_process_shutdown, worker_shutdown

from ore.config import Settings
from ore.core.kv import KV
from ore.extensions.database import Database
from ore.extensions.http import HttpClients, create_http_clients
from ore.extensions.kv import create_kv
from ore.extensions.model_runtime import ModelRuntime, create_model_runtime
from ore.extensions.tasks.registry import queue_for, registered_tasks
from ore.extensions.tasks.runs import (
    claim_by_id,
    clear_current_backend,
    default_worker_id,
    execute,
    mark_undeliverable,
    set_current_backend,
)

logger = logging.getLogger(__name__)

_CHECK_TIMEOUT = 2
# Publishing retries briefly, then the run ends in error rather than waiting forever.
_SEND_RETRY_POLICY = {
    "max_retries": 3,
    "interval_start": 0,
    "interval_step": 0.5,
    "interval_max": 1,
}


def celery_queue(settings: Settings, name: str) -> str:
    """The broker queue of task ``name``."""
    return settings.CELERY_QUEUE_PREFIX + queue_for(name)


def create_celery_app(settings: Settings) -> Celery:
    app = Celery("ore", broker=settings.CELERY_BROKER_URL, set_as_current=False)
    app.conf.update(
        task_serializer="json",
        accept_content=["json"],
        # State lives in task_runs; Celery keeps no results.
        task_ignore_result=True,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        # No remote control or events: no extra fan-out exchanges on a shared broker.
        worker_enable_remote_control=False,
        worker_send_task_events=False,
        task_send_sent_event=False,
        worker_hijack_root_logger=False,
        broker_connection_retry_on_startup=True,
        task_default_queue=settings.CELERY_QUEUE_PREFIX + "default",
    )
    return app


class CeleryBackend:
    """The producer side, in API processes."""

    name = "celery"

    def __init__(self, settings: Settings, db: Database) -> None:
        self.settings = settings
        self.db = db
        self.app = create_celery_app(settings)

    async def start(self) -> None:
        set_current_backend(self)

    async def stop(self) -> None:
        clear_current_backend(self)
        await asyncio.to_thread(self.app.close)

    async def check(self) -> None:
        """The broker accepts a connection (short timeout)."""
        await asyncio.to_thread(self._connect)

    def _connect(self) -> None:
        with self.app.connection_for_write(connect_timeout=_CHECK_TIMEOUT) as connection:
            connection.ensure_connection(max_retries=1, interval_start=0, timeout=_CHECK_TIMEOUT)

    async def dispatch(self, run_id: uuid.UUID, name: str) -> None:
        try:
            await asyncio.to_thread(
                self.app.send_task,
                name,
                args=[str(run_id)],
                queue=celery_queue(self.settings, name),
                retry=True,
                retry_policy=_SEND_RETRY_POLICY,
            )
        except Exception as error:
            logger.exception("task %s (%s) could not be sent to the broker", name, run_id)
            await mark_undeliverable(self.db, run_id, error)


@dataclass
class _WorkerProcess:
    """What one worker process owns: made after the fork, closed when the process ends."""

    pid: int
    loop: asyncio.AbstractEventLoop
    db: Database
    kv: KV
    http: HttpClients
    models: ModelRuntime


class WorkerRuntime:
    """One event loop, Database, KV and model runtime per worker process, made after the
    fork; every task run in the process shares them (``TaskContext.kv``, ``.models``)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._process: _WorkerProcess | None = None

    def run(self, run_id: str) -> str | None:
        """Claim and run one run; the entry point of every ore task in Celery."""
        process = self._ensure()
        return process.loop.run_until_complete(self._run(process, uuid.UUID(run_id)))

    async def _run(self, process: _WorkerProcess, run_id: uuid.UUID) -> str | None:
        run = await claim_by_id(process.db, run_id, worker_id=default_worker_id())
        if run is None:
            return None
        return await execute(process.db, self.settings, run, kv=process.kv, models=process.models)

    def _ensure(self) -> _WorkerProcess:
        if self._process is None or self._process.pid != os.getpid():
            # A forked child must not reuse its parent's loop, connections or clients.
            loop = asyncio.new_event_loop()
            db = Database(self.settings)
            kv = create_kv(self.settings)
            http = create_http_clients(self.settings)
            models = create_model_runtime(self.settings, kv, http)
            self._process = _WorkerProcess(os.getpid(), loop, db, kv, http, models)
            # Tasks that enqueue follow-up tasks send them through the broker too.
            set_current_backend(CeleryBackend(self.settings, db))
        return self._process

    def close(self, **_: Any) -> None:
        process = self._process
        if process is None or process.pid != os.getpid():
            return
        process.loop.run_until_complete(self._close(process))
        process.loop.close()
        self._process = None

    async def _close(self, process: _WorkerProcess) -> None:
        await process.http.aclose()
        await process.kv.close()
        await process.db.dispose()


def create_worker_app(settings: Settings) -> Celery:
    """A Celery app with every registered ore task, each under its own dotted name."""
    app = create_celery_app(settings)
    runtime = WorkerRuntime(settings)
    for definition in registered_tasks():
        app.task(name=definition.name, queue=celery_queue(settings, definition.name))(
            _entry_point(runtime)
        )
    worker_process_shutdown.connect(runtime.close, weak=False)
    worker_shutdown.connect(runtime.close, weak=False)
    return app


def _entry_point(runtime: WorkerRuntime) -> Any:
    def run_task(run_id: str) -> None:
        runtime.run(run_id)

    return run_task


def worker_queues(settings: Settings, domains: Sequence[str] = ()) -> list[str]:
    """Broker queues to consume: the given domains, or those of every registered task."""
    names = domains or sorted({queue_for(d.name) for d in registered_tasks()})
    return [settings.CELERY_QUEUE_PREFIX + name for name in names]


def run_worker(
    settings: Settings,
    *,
    concurrency: int,
    loglevel: str,
    queues: Sequence[str],
    pool: str,
) -> None:
    """Run a Celery worker in this process until it is stopped (``ore worker``)."""
    app = create_worker_app(settings)
    consumed = worker_queues(settings, queues)
    logger.info("ore worker consuming %s", ", ".join(consumed))
    app.worker_main(
        argv=[
            "worker",
            f"--concurrency={concurrency}",
            f"--loglevel={loglevel}",
            f"--queues={','.join(consumed)}",
            f"--pool={pool}",
            "--without-gossip",
            "--without-mingle",
        ]
    )
