"""Background tasks: one interface, an in-process runner and Celery.

- ``@task("domain.verb")`` registers an async task function (``registry.py``);
- ``enqueue(session, name, args)`` queues a run in the caller's unit of work and hands it to
  this process's backend once that unit commits (``runs.py``);
- ``create_task_backend`` picks the backend: Celery when CELERY_BROKER_URL is set
  (``celery_backend.py``), the in-process runner otherwise (``inprocess.py``). Both drive
  the same state machine over the ``task_runs`` table.

The backend a process started is process-wide (:func:`current_backend`): ``enqueue`` has
only the session, and a process runs one backend at a time. A process that enqueues
without having started one (a short CLI command) only stores the row; an in-process runner
polling the same database picks it up.
"""

from __future__ import annotations

import uuid
from typing import Protocol

from ore.config import Settings
from ore.core.kv import KV
from ore.extensions.database import Database
from ore.extensions.model_runtime import ModelRuntime
from ore.extensions.tasks.registry import (
    TaskContext,
    TaskDefinition,
    TaskFunction,
    get_task,
    registered_tasks,
    task,
)
from ore.extensions.tasks.runs import current_backend, enqueue


class TaskBackend(Protocol):
    name: str
    settings: Settings

    async def start(self) -> None: ...
    async def stop(self) -> None: ...
    async def check(self) -> None: ...
    async def dispatch(self, run_id: uuid.UUID, name: str) -> None: ...


def create_task_backend(
    settings: Settings, db: Database, kv: KV, models: ModelRuntime
) -> TaskBackend:
    """Celery when CELERY_BROKER_URL is set, the in-process runner otherwise.

    The in-process runner hands ``kv`` and ``models`` (this process's) to its tasks; the
    Celery producer runs nothing, and each worker process builds its own.
    """
    if settings.celery_enabled:
        from ore.extensions.tasks.celery_backend import CeleryBackend

        return CeleryBackend(settings, db)
    from ore.extensions.tasks.inprocess import InProcessRunner

    return InProcessRunner(settings, db, kv, models)


__all__ = [
    "TaskBackend",
    "TaskContext",
    "TaskDefinition",
    "TaskFunction",
    "create_task_backend",
    "current_backend",
    "enqueue",
    "get_task",
    "registered_tasks",
    "task",
]
