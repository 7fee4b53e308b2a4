"""The task registry: stable dotted names mapped to async task functions.

A task is ``async def fn(ctx: TaskContext, **args) -> dict | None``, registered with
``@task("domain.verb")``. Arguments are ids and plain strings (they are stored as JSON in
the ``task_runs`` row and sent to Celery), never ORM objects: a task loads what it needs.

Task modules live in ``ore.tasks`` and register themselves when imported. Whoever starts a
backend imports them (``ore.app_factory`` and ``ore.cli``); this package never does, since
extensions sit below tasks in the layers.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import update

from ore.config import Settings
from ore.core.kv import KV
from ore.extensions.database import Database
from ore.extensions.model_runtime import ModelRuntime
from ore.models import TaskRun
from ore.models.base import utcnow

TaskResult = dict[str, Any] | None
TaskFunction = Callable[..., Awaitable[TaskResult]]


@dataclass
class TaskContext:
    """What a running task gets besides its arguments.

    ``kv`` and ``models`` are the process's own (the API process's for the in-process
    runner, the worker process's under Celery), so a task shares their caches, cooldowns
    and HTTP connections instead of building throwaway ones.
    """

    task_id: uuid.UUID
    name: str
    attempt: int
    tenant_id: uuid.UUID | None
    settings: Settings
    db: Database
    kv: KV
    models: ModelRuntime

    async def progress(self, values: dict[str, Any]) -> None:
        """Record progress (and a heartbeat) in its own short, committed unit of work."""
        async with self.db.unit_of_work() as session:
            await session.execute(
                update(TaskRun)
                .where(TaskRun.id == self.task_id)
                .values(progress=values, heartbeat_at=utcnow())
            )


@dataclass(frozen=True)
class TaskDefinition:
    name: str
    function: TaskFunction
    queue: str
    # Argument names whose values are replaced once the run has ended, so a secret (an
    # invitation link) is not kept in the task_runs table longer than it is needed.
    secret_args: tuple[str, ...] = field(default=())


_REGISTRY: dict[str, TaskDefinition] = {}


def task(
    name: str, *, queue: str | None = None, secret_args: tuple[str, ...] = ()
) -> Callable[[TaskFunction], TaskFunction]:
    """Register an async task function under a stable dotted ``name``.

    ``queue`` is the Celery queue it is sent to; by default the first part of the name
    (``mail.send_invitation`` goes to ``mail``), so workers can be split by domain.
    """
    if "." not in name:
        raise ValueError(f"task name {name!r} must be dotted, like 'domain.verb'")

    def register(function: TaskFunction) -> TaskFunction:
        existing = _REGISTRY.get(name)
        if existing is not None and not _same_function(existing.function, function):
            raise ValueError(f"task {name!r} is already registered by {existing.function!r}")
        _REGISTRY[name] = TaskDefinition(
            name=name,
            function=function,
            queue=queue or name.split(".", 1)[0],
            secret_args=secret_args,
        )
        return function

    return register


def _same_function(first: TaskFunction, second: TaskFunction) -> bool:
    # A module imported twice (test collection, reload) registers an equal function again.
    return (first.__module__, first.__qualname__) == (second.__module__, second.__qualname__)


def get_task(name: str) -> TaskDefinition | None:
    return _REGISTRY.get(name)


def registered_tasks() -> list[TaskDefinition]:
    return sorted(_REGISTRY.values(), key=lambda definition: definition.name)


def queue_for(name: str) -> str:
    """The queue of a task; tasks this process has not imported use the default rule."""
    definition = _REGISTRY.get(name)
    return definition.queue if definition else name.split(".", 1)[0]
