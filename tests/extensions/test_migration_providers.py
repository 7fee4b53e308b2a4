"""Migration 0002 (model providers): matches the models, downgrades and upgrades again.

Runs on a fresh database of each kind, so downgrading never disturbs the shared one.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from ore.config import Settings
from ore.extensions import migrations
from ore.extensions.database import create_engine
from ore.models import Base, ProviderConfig, Tenant
from tests.conftest import _create_pg_database, _drop_pg_database, make_settings
from tests.factories import db_session

NEW_TABLES = {
    "tenant_keys",
    "provider_credentials",
    "provider_configs",
    "load_balancing_configs",
    "default_models",
    "gateway_keys",
}


@pytest.fixture(params=["sqlite", "postgresql"])
async def fresh(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Settings]:
    if request.param == "sqlite":
        yield make_settings(f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}", tmp_path)
        return
    name, url = await _create_pg_database()
    try:
        yield make_settings(url, tmp_path)
    finally:
        await _drop_pg_database(name)


async def on_connection(settings: Settings, work: Any) -> Any:
    engine = create_engine(settings)
    try:
        async with engine.connect() as connection:
            result = await connection.run_sync(work)
            await connection.commit()
            return result
    finally:
        await engine.dispose()


def _diff(connection: Connection) -> list[Any]:
    return list(compare_metadata(MigrationContext.configure(connection), Base.metadata))


def _tables(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names())


async def downgrade(settings: Settings, revision: str) -> None:
    config = migrations.alembic_config(settings)

    def _run(connection: Connection) -> None:
        config.attributes["connection"] = connection
        command.downgrade(config, revision)

    await on_connection(settings, _run)


async def test_schema_matches_models_and_round_trips(fresh: Settings) -> None:
    await migrations.upgrade(fresh)
    assert await migrations.current(fresh) == migrations.head_revision(fresh)
    assert await on_connection(fresh, _tables) >= NEW_TABLES
    assert await on_connection(fresh, _diff) == []

    await downgrade(fresh, "0001")
    assert await migrations.current(fresh) == "0001"
    assert not NEW_TABLES & await on_connection(fresh, _tables)

    await migrations.upgrade(fresh)
    assert await on_connection(fresh, _diff) == []


async def test_one_provider_level_config_per_provider(settings: Settings) -> None:
    async with db_session(settings) as session:
        tenant = Tenant(name="T")
        session.add(tenant)
        await session.flush()
        session.add(ProviderConfig(tenant_id=tenant.id, provider="openai"))
        # One flush per row: ore.extensions.database's NUL guard trips over SQLAlchemy's
        # batched multi-row INSERT on SQLite (reported; not this test's subject).
        await session.flush()
        # Per-model rows of the same provider are separate and allowed.
        session.add(
            ProviderConfig(
                tenant_id=tenant.id, provider="openai", model_name="gpt-4o", model_type="llm"
            )
        )
    with pytest.raises(IntegrityError):
        async with db_session(settings) as session:
            session.add(ProviderConfig(tenant_id=tenant.id, provider="openai"))
    with pytest.raises(IntegrityError):
        async with db_session(settings) as session:
            session.add(
                ProviderConfig(
                    tenant_id=tenant.id, provider="openai", model_name="gpt-4o", model_type="llm"
                )
            )
