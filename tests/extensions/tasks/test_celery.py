"""Celery: the API side sends, a real `ore worker` subprocess runs the same task function.

Each test uses its own queue prefix (and, on Redis, a random database number) so runs on
the same broker at the same time never take each other's messages.
"""

from __future__ import annotations

import contextlib
import random
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from kombu import Connection

from ore.config import Settings
from ore.extensions import migrations
from ore.extensions.database import Database
from ore.extensions.tasks import create_task_backend, current_backend, enqueue
from ore.extensions.tasks.celery_backend import CeleryBackend, worker_queues
from ore.models import TaskStatus
from tests.conftest import (
    RABBITMQ_URL,
    REDIS_URL_HOST,
    _create_pg_database,
    _drop_pg_database,
    make_settings,
)
from tests.extensions.tasks.helpers import ProcessParts, wait_for_run
from tests.processes import ore_environment, start_ore, stop


@pytest.fixture(scope="module")
async def pg_url(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    """A PostgreSQL database of this module (distributed mode runs on a server database)."""
    name, url = await _create_pg_database()
    try:
        await migrations.upgrade(make_settings(url, tmp_path_factory.mktemp("celery-pg")))
        yield url
    finally:
        await _drop_pg_database(name)


@pytest.fixture(params=["redis", "amqp"])
def broker_url(request: pytest.FixtureRequest) -> Iterator[str]:
    if request.param == "redis":
        url = f"redis://{REDIS_URL_HOST}:6379/{random.randint(1, 15)}"
    else:
        url = RABBITMQ_URL
    yield url


def _start_worker(settings: Settings, tmp_path: Path) -> subprocess.Popen[bytes]:
    env = ore_environment(
        DATA_DIR=str(tmp_path),
        SECRET_KEY=settings.SECRET_KEY,
        SQLALCHEMY_DATABASE_URI=settings.database_url,
        CELERY_BROKER_URL=settings.CELERY_BROKER_URL,
        CELERY_QUEUE_PREFIX=settings.CELERY_QUEUE_PREFIX,
        LOG_LEVEL="WARNING",
    )
    options = ["--pool", "solo", "--concurrency", "1", "--loglevel", "WARNING", "--queues", "debug"]
    return start_ore("worker", *options, data_dir=tmp_path, env=env)


def _delete_queues(settings: Settings) -> None:
    """Leave nothing behind on the shared broker."""
    names = worker_queues(settings, ["debug"])
    url = settings.CELERY_BROKER_URL
    if url.startswith("redis"):
        client = redis.Redis.from_url(url)
        for key in client.scan_iter(f"*{settings.CELERY_QUEUE_PREFIX}*"):
            client.delete(key)
        client.close()
        return
    with Connection(url, connect_timeout=5) as connection:
        channel: Any = connection.default_channel
        for name in names:
            with contextlib.suppress(Exception):
                channel.queue_delete(name)
            with contextlib.suppress(Exception):
                channel.exchange_delete(name)


@pytest.mark.slow
async def test_ore_worker_runs_debug_sleep_to_completed(
    pg_url: str, broker_url: str, tmp_path: Path, parts: ProcessParts
) -> None:
    settings = make_settings(
        pg_url,
        tmp_path,
        CELERY_BROKER_URL=broker_url,
        CELERY_QUEUE_PREFIX=f"oretest-{uuid.uuid4().hex[:10]}-",
    )
    db = Database(settings)
    backend = create_task_backend(settings, db, *parts)
    assert isinstance(backend, CeleryBackend)
    worker = _start_worker(settings, tmp_path)
    try:
        await backend.start()
        assert current_backend() is backend
        await backend.check()
        async with db.unit_of_work() as session:
            run_id = enqueue(session, "debug.sleep", {"seconds": 0.2, "steps": 2})
        try:
            run = await wait_for_run(db, run_id, timeout=45)
        except AssertionError as error:
            log = (tmp_path / "ore.log").read_text(errors="replace")[-3000:]
            raise AssertionError(f"{error}\nworker log:\n{log}") from error
    finally:
        stop(worker, timeout=10)
        await backend.stop()
        await db.dispose()
        _delete_queues(settings)

    assert run.status == TaskStatus.COMPLETED, run.error
    assert run.backend == "celery"
    assert run.result == {"slept": 0.2, "steps": 2, "attempt": 1}
    assert run.progress == {"step": 2, "steps": 2}
    # The subprocess (solo pool: its main process) ran it, not this test process.
    assert run.worker_id is not None
    assert run.worker_id.endswith(f":{worker.pid}")


async def test_unreachable_broker_fails_health_and_ends_the_run_in_error(
    database_url: str, tmp_path: Path, _clean_tables: None, parts: ProcessParts
) -> None:
    settings = make_settings(database_url, tmp_path, CELERY_BROKER_URL="redis://127.0.0.1:1/0")
    db = Database(settings)
    backend = create_task_backend(settings, db, *parts)
    await backend.start()
    try:
        with pytest.raises(Exception, match=r"(?i)connect|refused"):
            await backend.check()
        async with db.unit_of_work() as session:
            run_id = enqueue(session, "debug.sleep", {"seconds": 0})
        run = await wait_for_run(db, run_id, timeout=30)
    finally:
        await backend.stop()
        await db.dispose()
    assert run.status == TaskStatus.ERROR
    assert run.error is not None
    assert run.error.startswith("could not send the task to the broker")
