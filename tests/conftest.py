"""Fixtures shared by the whole suite.

Database-backed tests request ``database_url`` (directly or through ``settings``/``client``)
and so run twice: on a SQLite file and on a PostgreSQL database created for this session on
the real server at 127.0.0.1:5432 and dropped afterwards. The schema is made by Alembic.
Rows are deleted after each test, so tests never see each other's data.
"""

from __future__ import annotations

import inspect
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import create_async_engine

from ore.config import Settings, load_settings
from ore.extensions import migrations
from ore.models import Base

PG_ADMIN_DSN = os.environ.get("ORE_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL_HOST = os.environ.get("ORE_TEST_REDIS_HOST", "127.0.0.1")
RABBITMQ_URL = os.environ.get("ORE_TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672//")


@pytest.hookimpl(tryfirst=True)
def pytest_pycollect_makeitem(collector: pytest.Collector, name: str, obj: object) -> None:
    # Every coroutine test runs on anyio's asyncio backend without a marker on each test.
    if inspect.iscoroutinefunction(obj):
        pytest.mark.anyio(obj)


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session", autouse=True)
def _clean_environment() -> Iterator[None]:
    """Settings in the shell (REDIS_HOST, DB_TYPE, ...) must not leak into tests."""
    saved = {
        name: os.environ.pop(name) for name in list(os.environ) if name in Settings.model_fields
    }
    yield
    os.environ.update(saved)


def make_settings(database_url: str, data_dir: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "_env_file": None,
        "DATA_DIR": str(data_dir),
        "SQLALCHEMY_DATABASE_URI": database_url,
        "SECRET_KEY": "test-secret-key-with-enough-entropy-0123456789",
        "MIGRATION_ENABLED": False,
        "LOG_LEVEL": "WARNING",
        "SQLALCHEMY_POOL_SIZE": 5,
        "TASK_POLL_INTERVAL": 0.2,
    }
    values.update(overrides)
    return load_settings(**values)


async def _create_pg_database() -> tuple[str, str]:
    name = f"ore_test_{uuid.uuid4().hex[:12]}"
    connection = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    base = PG_ADMIN_DSN.rsplit("/", 1)[0]
    return name, f"{base}/{name}"


async def _drop_pg_database(name: str) -> None:
    connection = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await connection.close()


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
async def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[str]:
    """A migrated database of each kind, for the whole session."""
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("sqlite") / "ore.db"
        url = f"sqlite+aiosqlite:///{path}"
        await migrations.upgrade(make_settings(url, path.parent))
        yield url
        return
    name, url = await _create_pg_database()
    try:
        await migrations.upgrade(make_settings(url, tmp_path_factory.mktemp("pg")))
        yield url
    finally:
        await _drop_pg_database(name)


@pytest.fixture
async def _clean_tables(database_url: str) -> AsyncIterator[None]:
    yield
    engine = create_async_engine(migrations_url(database_url))
    try:
        async with engine.begin() as connection:
            for table in reversed(Base.metadata.sorted_tables):
                await connection.execute(delete(table))
    finally:
        await engine.dispose()


def migrations_url(url: str) -> str:
    from ore.config.settings import async_database_url

    return async_database_url(url)


@pytest.fixture
def settings(database_url: str, tmp_path: Path, _clean_tables: None) -> Settings:
    return make_settings(database_url, tmp_path)


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    from ore.app_factory import create_app

    application = create_app(settings)
    async with LifespanManager(application, startup_timeout=60, shutdown_timeout=60):
        yield application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 4321))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


@pytest.fixture(autouse=True)
def no_internet(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test reaches the internet: resolving or connecting to a host that is not
    loopback fails the test. (Processes a test starts are outside this guard.)"""
    from tests.upstreams import guard_internet

    guard_internet(monkeypatch)


@pytest.fixture(scope="session")
def local_openai_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The ``/v1`` base URL of one `ore models serve-local` process shared by the session:
    the real OpenAI-compatible server on loopback that provider tests call."""
    from tests.upstreams import start_serve_local

    with start_serve_local(tmp_path_factory.mktemp("serve-local")) as url:
        yield url


@pytest.fixture(scope="session")
def scripted_server() -> Iterator[Any]:
    """One scripted upstream for the session (failures and timing only, DESIGN.md §7)."""
    from tests.upstreams import run_scripted_server

    with run_scripted_server() as server:
        yield server
