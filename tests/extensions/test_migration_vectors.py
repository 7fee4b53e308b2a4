"""Migration 0004 (annotation vectors, prompt messages): upgrades a 0003 database holding an
annotation and a message, matches the models, downgrades and upgrades again.

Rows are written with plain SQL, since the models already carry the new columns. Runs on a
fresh database of each kind, so downgrading never disturbs the shared one.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import DateTime, Uuid, bindparam, inspect, select, text, update
from sqlalchemy.engine import Connection

from ore.config import Settings
from ore.extensions import migrations
from ore.models import Message, MessageAnnotation
from tests.conftest import _create_pg_database, _drop_pg_database, make_settings
from tests.extensions.test_migration_providers import _diff, downgrade, on_connection
from tests.factories import db_session

NEW_COLUMNS = {
    ("message_annotations", "question_embedding"),
    ("message_annotations", "embedding_model"),
    ("messages", "message"),
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


def _columns(connection: Connection) -> set[tuple[str, str]]:
    inspector = inspect(connection)
    return {
        (table, column["name"])
        for table in ("message_annotations", "messages")
        for column in inspector.get_columns(table)
    }


def _insert_rows(connection: Connection) -> dict[str, Any]:
    """A tenant, an app, a conversation, a message and an annotation, as 0003 knows them."""
    ids = {name: uuid.uuid4() for name in ("tenant", "app", "conversation", "message", "note")}
    now = datetime(2026, 11, 23, 12)
    statements = [
        "INSERT INTO tenants (id, name, plan, status, custom_config, created_at, updated_at)"
        " VALUES (:tenant, 'T', 'basic', 'normal', '{}', :now, :now)",
        "INSERT INTO apps (id, tenant_id, name, description, mode, status, enable_site,"
        " enable_api, use_icon_as_answer_icon, created_at, updated_at) VALUES (:app, :tenant,"
        " 'A', '', 'chat', 'normal', false, true, false, :now, :now)",
        "INSERT INTO conversations (id, tenant_id, app_id, mode, name, summary, inputs,"
        " introduction, status, from_source, dialogue_count, is_deleted,"
        " created_at, updated_at) VALUES (:conversation, :tenant, :app, 'chat', 'c', '', '{}',"
        " '', 'normal', 'api', 1, false, :now, :now)",
        "INSERT INTO messages (id, tenant_id, app_id, conversation_id, inputs, query, answer,"
        " message_tokens, message_unit_price, message_price_unit, answer_tokens,"
        " answer_unit_price, answer_price_unit, total_price, currency,"
        " provider_response_latency, status, from_source, agent_based, message_metadata,"
        " created_at, updated_at) VALUES (:message, :tenant, :app, :conversation, '{}', 'hi',"
        " 'hello', 1, 0, 0.001, 1, 0, 0.001, 0, 'USD', 0.5, 'normal', 'api', false, '{}',"
        " :now, :now)",
        "INSERT INTO message_annotations (id, tenant_id, app_id, question, content, hit_count,"
        " created_at, updated_at) VALUES (:note, :tenant, :app, 'Q?', 'A.', 2, :now, :now)",
    ]
    types = [bindparam(name, type_=Uuid()) for name in ids]
    for statement in statements:
        used = [param for param in types if f":{param.key}" in statement]
        bound = text(statement).bindparams(*used, bindparam("now", type_=DateTime()))
        connection.execute(bound, {**ids, "now": now})
    return ids


async def test_upgrade_from_0003_keeps_rows_and_round_trips(fresh: Settings) -> None:
    await migrations.upgrade(fresh, "0003")
    assert not NEW_COLUMNS & await on_connection(fresh, _columns)
    ids = await on_connection(fresh, _insert_rows)

    await migrations.upgrade(fresh)
    assert await migrations.current(fresh) == migrations.head_revision(fresh) == "0004"
    assert await on_connection(fresh, _columns) >= NEW_COLUMNS
    assert await on_connection(fresh, _diff) == []
    async with db_session(fresh) as session:
        note = await session.get(MessageAnnotation, ids["note"])
        message = await session.get(Message, ids["message"])
        assert note is not None and message is not None
        assert (note.question, note.hit_count) == ("Q?", 2)
        assert (note.question_embedding, note.embedding_model, message.message) == (None,) * 3
        note.question_embedding = [0.25, -1.5, 3.0]
        note.embedding_model = "openai/text-embedding-3-small"
        await session.execute(
            update(Message)
            .where(Message.id == ids["message"])
            .values(message=[{"role": "user", "text": "hi", "files": []}])
        )
    async with db_session(fresh) as session:
        note = await session.get(MessageAnnotation, ids["note"])
        assert note is not None
        assert note.question_embedding == [0.25, -1.5, 3.0]
        assert note.embedding_model == "openai/text-embedding-3-small"
        prompt = await session.scalar(select(Message.message).where(Message.id == ids["message"]))
        assert prompt == [{"role": "user", "text": "hi", "files": []}]

    await downgrade(fresh, "0003")
    assert await migrations.current(fresh) == "0003"
    assert not NEW_COLUMNS & await on_connection(fresh, _columns)

    await migrations.upgrade(fresh)
    assert await on_connection(fresh, _diff) == []
    async with db_session(fresh) as session:
        note = await session.get(MessageAnnotation, ids["note"])
        assert note is not None
        assert (note.question, note.question_embedding) == ("Q?", None)
