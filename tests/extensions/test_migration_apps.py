"""Migration 0003 (apps): upgrades a 0002 database holding data, matches the models,
downgrades and upgrades again.

Runs on a fresh database of each kind, so downgrading never disturbs the shared one.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import select

from ore.config import Settings
from ore.extensions import migrations
from ore.models import App, Tenant
from tests.conftest import _create_pg_database, _drop_pg_database, make_settings
from tests.extensions.test_migration_providers import _diff, _tables, downgrade, on_connection
from tests.factories import db_session

APP_TABLES = {
    "apps",
    "app_model_configs",
    "sites",
    "app_api_keys",
    "end_users",
    "conversations",
    "messages",
    "message_feedbacks",
    "message_annotations",
    "message_files",
    "upload_files",
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


async def test_upgrade_from_0002_keeps_data_and_round_trips(fresh: Settings) -> None:
    await migrations.upgrade(fresh, "0002")
    async with db_session(fresh) as session:
        session.add(Tenant(name="Before apps"))
    assert not APP_TABLES & await on_connection(fresh, _tables)

    await migrations.upgrade(fresh)
    assert await migrations.current(fresh) == migrations.head_revision(fresh)
    assert await on_connection(fresh, _tables) >= APP_TABLES
    assert await on_connection(fresh, _diff) == []
    async with db_session(fresh) as session:
        tenant = (await session.scalars(select(Tenant))).one()
        session.add(App(tenant_id=tenant.id, name="First", mode="chat"))

    await downgrade(fresh, "0002")
    assert await migrations.current(fresh) == "0002"
    assert not APP_TABLES & await on_connection(fresh, _tables)

    await migrations.upgrade(fresh)
    assert await on_connection(fresh, _diff) == []
    async with db_session(fresh) as session:
        assert (await session.scalars(select(Tenant.name))).all() == ["Before apps"]
        assert (await session.scalars(select(App))).all() == []
