"""The one state machine of a task run, shared by the in-process runner and Celery workers.

::

    queued --claim--> running --run--> completed (result) | error (message)
    running, its process died --recover--> queued (attempts left) | error ("interrupted ...")

Every transition is a conditional UPDATE (``WHERE status = <expected>``), so two runners
never take the same row and a late finish never overwrites a run somebody else took over.
Each transition commits on its own: a run is a sequence of short units of work.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import uuid
from collections.abc import Mapping
from datetime import timedelta
from typing import Any, Protocol, cast

from sqlalchemy import CursorResult, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ore.config import Settings
from ore.core.kv import KV
from ore.extensions.database import Database, after_commit
from ore.extensions.metrics import tasks_finished, tasks_running
from ore.extensions.model_runtime import ModelRuntime
from ore.extensions.tasks.registry import TaskContext, get_task
from ore.models import TaskRun, TaskStatus
from ore.models.base import utcnow

logger = logging.getLogger(__name__)

_MAX_ERROR_LENGTH = 4000
_REDACTED = "[redacted]"


class Dispatcher(Protocol):
    """The part of a backend that ``enqueue`` needs."""

    name: str
    settings: Settings

    async def dispatch(self, run_id: uuid.UUID, name: str) -> None: ...


# The backend started by this process (one per process: the API server's or a CLI's).
# ``enqueue`` hands committed runs to it; without one, rows wait for a runner that polls.
_current: Dispatcher | None = None


def set_current_backend(backend: Dispatcher) -> None:
    global _current
    _current = backend


def clear_current_backend(backend: Dispatcher) -> None:
    global _current
    if _current is backend:
        _current = None


def current_backend() -> Dispatcher | None:
    return _current


def default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def enqueue(
    session: AsyncSession,
    name: str,
    args: Mapping[str, Any] | None = None,
    *,
    tenant_id: uuid.UUID | None = None,
    max_attempts: int | None = None,
) -> uuid.UUID:
    """Queue task ``name`` with ``args`` (ids and strings) in the caller's unit of work.

    The run is handed to this process's backend only after the unit commits, so a request
    that rolls back never runs its tasks. Returns the id of the ``task_runs`` row.
    """
    arguments = dict(args or {})
    json.dumps(arguments)  # fail here, in the caller, rather than at commit or in a worker
    backend = _current
    run = TaskRun(
        id=uuid.uuid4(),
        name=name,
        args=arguments,
        tenant_id=tenant_id,
        status=TaskStatus.QUEUED,
        backend=backend.name if backend else "inprocess",
        attempts=0,
        max_attempts=max_attempts or (backend.settings.TASK_MAX_ATTEMPTS if backend else 3),
    )
    session.add(run)
    if backend is not None:
        target = backend

        async def dispatch() -> None:
            await target.dispatch(run.id, name)

        after_commit(session, dispatch)
    return run.id


async def _update(session: AsyncSession, statement: Any) -> int:
    result = cast(CursorResult[Any], await session.execute(statement))
    return int(result.rowcount)


def _start_values(worker_id: str) -> dict[str, Any]:
    now = utcnow()
    return {
        "status": TaskStatus.RUNNING,
        "attempts": TaskRun.attempts + 1,
        "worker_id": worker_id,
        "started_at": now,
        "heartbeat_at": now,
        "error": None,
    }


async def claim_queued(db: Database, *, backend: str, worker_id: str, limit: int) -> list[TaskRun]:
    """Take up to ``limit`` of the oldest queued runs of ``backend``, marking them running."""
    claimed: list[TaskRun] = []
    async with db.unit_of_work() as session:
        candidates = await session.scalars(
            select(TaskRun.id)
            .where(TaskRun.status == TaskStatus.QUEUED, TaskRun.backend == backend)
            .order_by(TaskRun.created_at)
            .limit(limit)
        )
        for run_id in list(candidates):
            taken = await _update(
                session,
                update(TaskRun)
                .where(TaskRun.id == run_id, TaskRun.status == TaskStatus.QUEUED)
                .values(**_start_values(worker_id)),
            )
            if taken:
                run = await session.get(TaskRun, run_id, populate_existing=True)
                if run is not None:
                    claimed.append(run)
    return claimed


async def claim_by_id(db: Database, run_id: uuid.UUID, *, worker_id: str) -> TaskRun | None:
    """Take one run by id (a Celery delivery); None when there is nothing to run.

    A run already ``running`` is a redelivery after its worker died (Celery acks late):
    it is taken over while attempts are left, and ends in error otherwise. A finished run
    is a duplicate delivery and is left alone.
    """
    async with db.unit_of_work() as session:
        run = await session.get(TaskRun, run_id)
        if run is None:
            logger.warning("task run %s does not exist; message dropped", run_id)
            return None
        if run.status == TaskStatus.RUNNING and run.attempts >= run.max_attempts:
            await _interrupt(session, run)
            return None
        if run.status not in (TaskStatus.QUEUED, TaskStatus.RUNNING):
            logger.info("task run %s already ended (%s); duplicate delivery", run_id, run.status)
            return None
        taken = await _update(
            session,
            update(TaskRun)
            .where(
                TaskRun.id == run_id,
                TaskRun.status == run.status,
                TaskRun.attempts == run.attempts,
            )
            .values(**_start_values(worker_id)),
        )
        if not taken:
            return None
        await session.refresh(run)
        return run


# Runners alive in this process, by worker id: a second runner in the same process (tests,
# a CLI that starts a context) must not take the first one's runs for a dead process's.
_live_workers: set[str] = set()


def register_live_worker(worker_id: str) -> None:
    _live_workers.add(worker_id)


def unregister_live_worker(worker_id: str) -> None:
    _live_workers.discard(worker_id)


def owner_is_dead(worker_id: str | None) -> bool:
    """True when the process that claimed a run is known to be gone.

    Only provable on this host (worker ids are ``host:pid[:suffix]``); elsewhere the
    heartbeat decides.
    """
    if not worker_id:
        return True
    host, _, rest = worker_id.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():  # also a previous process that had our pid (containers)
        return worker_id not in _live_workers
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


async def recover_interrupted(
    db: Database, *, backend: str, stale_after: timedelta
) -> tuple[int, int]:
    """Runs left ``running`` by a dead process: queued again, or error when out of attempts.

    A run is taken as interrupted when its owner is known to be dead, or when its
    heartbeat is older than ``stale_after``. Returns (requeued, failed).
    """
    requeued = failed = 0
    stale_before = utcnow() - stale_after
    async with db.unit_of_work() as session:
        runs = await session.scalars(
            select(TaskRun).where(TaskRun.status == TaskStatus.RUNNING, TaskRun.backend == backend)
        )
        for run in list(runs):
            last_seen = run.heartbeat_at or run.started_at
            alive = last_seen is not None and last_seen >= stale_before
            if alive and not owner_is_dead(run.worker_id):
                continue
            if run.attempts >= run.max_attempts:
                await _interrupt(session, run)
                failed += 1
                continue
            requeued += await _update(
                session,
                update(TaskRun)
                .where(TaskRun.id == run.id, TaskRun.status == TaskStatus.RUNNING)
                .values(status=TaskStatus.QUEUED, worker_id=None),
            )
    if requeued or failed:
        logger.warning("recovered interrupted tasks: %d queued again, %d ended", requeued, failed)
    return requeued, failed


async def beat(db: Database, worker_id: str) -> None:
    """Refresh the heartbeat of every run ``worker_id`` is running."""
    async with db.unit_of_work() as session:
        await session.execute(
            update(TaskRun)
            .where(TaskRun.status == TaskStatus.RUNNING, TaskRun.worker_id == worker_id)
            .values(heartbeat_at=utcnow())
        )


async def _interrupt(session: AsyncSession, run: TaskRun) -> None:
    message = (
        f"interrupted: the process running this task stopped before it finished, "
        f"after {run.attempts} attempts"
    )
    ended = await _update(
        session,
        update(TaskRun)
        .where(TaskRun.id == run.id, TaskRun.status == TaskStatus.RUNNING)
        .values(
            status=TaskStatus.ERROR,
            error=message,
            finished_at=utcnow(),
            args=_redact(run.name, run.args),
        ),
    )
    if ended:
        tasks_finished.labels(run.name, TaskStatus.ERROR.value).inc()


async def mark_undeliverable(db: Database, run_id: uuid.UUID, error: BaseException) -> None:
    """A queued run that could not be handed to the broker ends in error, never stuck."""
    async with db.unit_of_work() as session:
        await _update(
            session,
            update(TaskRun)
            .where(TaskRun.id == run_id, TaskRun.status == TaskStatus.QUEUED)
            .values(
                status=TaskStatus.ERROR,
                error=_describe(error, prefix="could not send the task to the broker: "),
                finished_at=utcnow(),
            ),
        )


async def execute(
    db: Database, settings: Settings, run: TaskRun, *, kv: KV, models: ModelRuntime
) -> str:
    """Run a claimed run's function and record how it ended; returns the final status.

    ``kv`` and ``models`` are the running process's, handed to the task in its context.

    Cancellation (a stopping process) records nothing: the run stays ``running`` and is
    recovered by the next start.
    """
    definition = get_task(run.name)
    tasks_running.labels(run.name).inc()
    try:
        if definition is None:
            raise LookupError(f"no task named {run.name!r} is registered in this process")
        context = TaskContext(
            task_id=run.id,
            name=run.name,
            attempt=run.attempts,
            tenant_id=run.tenant_id,
            settings=settings,
            db=db,
            kv=kv,
            models=models,
        )
        result = await definition.function(context, **run.args)
        if result is not None and not isinstance(result, dict):
            raise TypeError(f"task returned {type(result).__name__}; expected a dict or None")
    except Exception as error:
        logger.exception("task %s (%s) failed", run.name, run.id)
        return await _finish(db, run, TaskStatus.ERROR, error=_describe(error))
    finally:
        tasks_running.labels(run.name).dec()
    try:
        return await _finish(db, run, TaskStatus.COMPLETED, result=result)
    except Exception as error:  # e.g. a result that is not JSON
        logger.exception("task %s (%s): result could not be stored", run.name, run.id)
        message = _describe(error, prefix="the result could not be stored: ")
        return await _finish(db, run, TaskStatus.ERROR, error=message)


async def _finish(
    db: Database,
    run: TaskRun,
    status: TaskStatus,
    *,
    result: dict[str, Any] | None = None,
    error: str | None = None,
) -> str:
    now = utcnow()
    async with db.unit_of_work() as session:
        ended = await _update(
            session,
            update(TaskRun)
            .where(
                TaskRun.id == run.id,
                TaskRun.status == TaskStatus.RUNNING,
                TaskRun.worker_id == run.worker_id,
                TaskRun.attempts == run.attempts,
            )
            .values(
                status=status,
                result=result,
                error=error,
                finished_at=now,
                heartbeat_at=now,
                args=_redact(run.name, run.args),
            ),
        )
    if not ended:
        logger.warning("task run %s was taken over by another worker; outcome dropped", run.id)
        return status.value
    tasks_finished.labels(run.name, status.value).inc()
    return status.value


def _redact(name: str, args: dict[str, Any]) -> dict[str, Any]:
    definition = get_task(name)
    secret = definition.secret_args if definition else ()
    return {key: _REDACTED if key in secret else value for key, value in args.items()}


def _describe(error: BaseException, prefix: str = "") -> str:
    text = str(error)
    message = f"{type(error).__name__}: {text}" if text else type(error).__name__
    return (prefix + message)[:_MAX_ERROR_LENGTH]


async def list_runs(
    db: Database, *, status: str | None = None, limit: int = 20
) -> list[dict[str, Any]]:
    """The newest runs (for ``ore tasks list``), as plain rows."""
    query = select(TaskRun).order_by(TaskRun.created_at.desc()).limit(limit)
    if status:
        query = query.where(TaskRun.status == status)
    async with db.unit_of_work() as session:
        runs = list(await session.scalars(query))
    columns = ("id", "name", "status", "attempts", "created_at", "finished_at", "error")
    return [{column: getattr(run, column) for column in columns} for run in runs]
