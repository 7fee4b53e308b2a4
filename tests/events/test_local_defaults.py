"""workspace_created → the ``local`` provider and its models as defaults (embedded mode only).

Workspaces are made the two ways a user makes them (first-run setup, and the console's
create route) on the real app, then read back through the model-provider services.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from sqlalchemy import select

from ore.app_factory import create_app
from ore.config import Settings
from ore.core.local_models import CHAT_MODEL_NAME, EMBEDDING_MODEL_NAME, RERANK_MODEL_NAME
from ore.core.model_runtime import ChatMessage, ChatRequest
from ore.core.model_runtime.errors import ProviderNotInitialized
from ore.extensions import migrations
from ore.extensions.model_runtime import ModelRuntime
from ore.models import Account, DefaultModel, ProviderConfig, Tenant
from ore.services.model_providers import available_models, bind_model
from tests.conftest import REDIS_URL_HOST, _create_pg_database, _drop_pg_database, make_settings
from tests.factories import bearer_headers, db_session

ADMIN = {"email": "ada@example.com", "name": "Ada", "password": "first-admin-1"}
LOCAL_MODELS = [
    ("local", CHAT_MODEL_NAME, "llm"),
    ("local", EMBEDDING_MODEL_NAME, "text-embedding"),
    ("local", RERANK_MODEL_NAME, "rerank"),
]


@asynccontextmanager
async def _serve(settings: Settings) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    app = create_app(settings)
    async with LifespanManager(app, startup_timeout=60, shutdown_timeout=60):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield app, http


async def _setup(http: httpx.AsyncClient) -> None:
    created = await http.post("/console/api/setup", json=ADMIN)
    assert created.status_code == 201, created.text


async def _admin(settings: Settings) -> Account:
    async with db_session(settings) as session:
        return (await session.execute(select(Account))).scalar_one()


async def _workspace_ids(settings: Settings) -> list[uuid.UUID]:
    async with db_session(settings) as session:
        return list(
            (await session.execute(select(Tenant.id).order_by(Tenant.created_at))).scalars()
        )


async def _configuration(settings: Settings, tenant_id: uuid.UUID) -> dict[str, Any]:
    """What the workspace has: provider rows, default models and callable models."""
    async with db_session(settings) as session:
        providers = (
            await session.execute(
                select(ProviderConfig.provider, ProviderConfig.model_name).where(
                    ProviderConfig.tenant_id == tenant_id
                )
            )
        ).all()
        defaults = (
            await session.execute(
                select(DefaultModel.model_type, DefaultModel.provider, DefaultModel.model).where(
                    DefaultModel.tenant_id == tenant_id
                )
            )
        ).all()
    return {
        "providers": sorted(tuple(row) for row in providers),
        "defaults": sorted(tuple(row) for row in defaults),
    }


async def _available(
    settings: Settings, runtime: ModelRuntime, tenant_id: uuid.UUID
) -> list[tuple[str, str, str]]:
    async with db_session(settings) as session:
        found = await available_models(session, runtime, tenant_id)
    return [(m.provider, m.model, m.model_type) for m in found]


EXPECTED_DEFAULTS = [
    ("llm", "local", CHAT_MODEL_NAME),
    ("rerank", "local", RERANK_MODEL_NAME),
    ("text-embedding", "local", EMBEDDING_MODEL_NAME),
]


async def test_setup_gives_the_first_workspace_the_local_models(settings: Settings) -> None:
    async with _serve(settings) as (app, http):
        await _setup(http)
        runtime: ModelRuntime = app.state.ore.models
        (tenant_id,) = await _workspace_ids(settings)

        assert await _configuration(settings, tenant_id) == {
            "providers": [("local", None)],
            "defaults": EXPECTED_DEFAULTS,
        }
        assert sorted(await _available(settings, runtime, tenant_id)) == sorted(LOCAL_MODELS)

        # The lowercase spelling served before is the same model.
        for model in (CHAT_MODEL_NAME, CHAT_MODEL_NAME.lower()):
            async with db_session(settings) as session:
                bound = await bind_model(
                    session, runtime, settings.SECRET_KEY, tenant_id, "local", model
                )
            result = await bound.chat(
                ChatRequest(
                    model=model,
                    messages=[ChatMessage(role="user", content="Say hi")],
                    parameters={"max_tokens": 4, "temperature": 0, "seed": 1},
                )
            )
            assert result.usage.completion_tokens > 0 and not result.usage.estimated
        async with db_session(settings) as session:
            embedder = await bind_model(
                session,
                runtime,
                settings.SECRET_KEY,
                tenant_id,
                "local",
                EMBEDDING_MODEL_NAME,
                "text-embedding",
            )
        embedded = await embedder.embed(["a local vector"])
        assert len(embedded.embeddings[0]) == 384


async def test_created_workspace_gets_the_local_models_too(settings: Settings) -> None:
    async with _serve(settings) as (app, http):
        await _setup(http)
        admin = await _admin(settings)
        created = await http.post(
            "/console/api/workspaces",
            json={"name": "Second"},
            headers=bearer_headers(settings, admin.id),
        )
        assert created.status_code == 201, created.text
        second = uuid.UUID(created.json()["id"])
        assert len(await _workspace_ids(settings)) == 2

        assert (await _configuration(settings, second))["defaults"] == EXPECTED_DEFAULTS
        assert sorted(await _available(settings, app.state.ore.models, second)) == sorted(
            LOCAL_MODELS
        )


async def _assert_nothing_configured(settings: Settings) -> None:
    async with _serve(settings) as (app, http):
        await _setup(http)
        runtime: ModelRuntime = app.state.ore.models
        (tenant_id,) = await _workspace_ids(settings)
        assert await _configuration(settings, tenant_id) == {"providers": [], "defaults": []}
        assert await _available(settings, runtime, tenant_id) == []
        async with db_session(settings) as session:
            with pytest.raises(ProviderNotInitialized):
                await bind_model(
                    session, runtime, settings.SECRET_KEY, tenant_id, "local", CHAT_MODEL_NAME
                )


async def test_local_models_disabled_configure_nothing(
    database_url: str, tmp_path: Path, _clean_tables: None
) -> None:
    settings = make_settings(database_url, tmp_path, LOCAL_MODELS_ENABLED=False)
    await _assert_nothing_configured(settings)


@pytest.fixture(scope="module")
async def pg_url(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    """A PostgreSQL database of this module: distributed mode needs a server database."""
    name, url = await _create_pg_database()
    try:
        await migrations.upgrade(make_settings(url, tmp_path_factory.mktemp("distributed-pg")))
        yield url
    finally:
        await _drop_pg_database(name)


async def test_distributed_mode_configures_nothing(pg_url: str, tmp_path: Path) -> None:
    redis_db = random.randint(1, 15)
    settings = make_settings(
        pg_url,
        tmp_path,
        REDIS_HOST=REDIS_URL_HOST,
        REDIS_DB=redis_db,
        CELERY_BROKER_URL=f"redis://{REDIS_URL_HOST}:6379/{redis_db}",
        CELERY_QUEUE_PREFIX=f"oretest-{uuid.uuid4().hex[:10]}-",
    )
    assert settings.is_distributed and settings.LOCAL_MODELS_ENABLED
    await _assert_nothing_configured(settings)
