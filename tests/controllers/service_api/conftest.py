"""Fixtures for Service API tests: a workspace whose apps answer, and their app keys.

Apps and keys are made through the console API, as a user makes them. The workspace has
the ``local`` provider configured with its chat model as the default LLM (what embedded
mode gives every new workspace); :func:`add_compat` points ``openai_api_compatible`` at
another upstream (serve-local, or the scripted server for failures and timing).
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI
from sqlalchemy import select

from ore.app_factory import create_app
from ore.config import Settings
from ore.core.local_models import CHAT_MODEL_NAME
from ore.models import DefaultModel
from ore.services import model_providers
from tests.factories import Member, create_member, db_session

APPS = "/console/api/apps"
COMPAT = "openai_api_compatible"


@dataclass
class ServiceApp:
    """An app made in the console, with one Service API key."""

    member: Member
    app_id: str
    key: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


async def local_workspace(settings: Settings) -> Member:
    """A new member whose workspace has the local provider and its chat model as default."""
    member = await create_member(settings)
    async with db_session(settings) as session:
        await model_providers.ensure_config(session, member.tenant.id, "local")
        has_default = await session.scalar(
            select(DefaultModel.id).where(
                DefaultModel.tenant_id == member.tenant.id, DefaultModel.model_type == "llm"
            )
        )
        if has_default is None:
            session.add(
                DefaultModel(
                    tenant_id=member.tenant.id,
                    model_type="llm",
                    provider="local",
                    model=CHAT_MODEL_NAME,
                )
            )
    return member


async def add_compat(app: FastAPI, settings: Settings, tenant_id: uuid.UUID, base_url: str) -> None:
    """A credential of ``openai_api_compatible`` for a model named like the local chat model,
    served at ``base_url`` (not checked: the scripted server answers only what is queued)."""
    async with db_session(settings) as session:
        await model_providers.add_credential(
            session,
            app.state.ore.models,
            settings.SECRET_KEY,
            tenant_id,
            COMPAT,
            {"base_url": base_url},
            model=CHAT_MODEL_NAME,
            model_type="llm",
            check=False,
        )


async def make_service_app(
    http: httpx.AsyncClient,
    member: Member,
    *,
    mode: str = "chat",
    name: str = "Service app",
    model_config: dict[str, Any] | None = None,
) -> ServiceApp:
    """An app of ``mode`` (with ``model_config`` saved when given) and a new key for it."""
    created = await http.post(APPS, json={"name": name, "mode": mode}, headers=member.headers)
    assert created.status_code == 201, created.text
    app_id = created.json()["id"]
    if model_config is not None:
        saved = await http.post(
            f"{APPS}/{app_id}/model-config", json=model_config, headers=member.headers
        )
        assert saved.status_code == 200, saved.text
    key = await http.post(f"{APPS}/{app_id}/api-keys", headers=member.headers)
    assert key.status_code == 201, key.text
    return ServiceApp(member=member, app_id=app_id, key=key.json()["token"])


@contextmanager
def live_server(settings: Settings) -> Iterator[tuple[str, FastAPI]]:
    """ore under uvicorn in a thread on loopback: a real HTTP server, for tests that need
    a stream as it happens (the in-process ASGI transport delivers a response whole)."""
    application = create_app(settings)
    config = uvicorn.Config(
        application,
        host="127.0.0.1",
        port=0,
        log_level="warning",
        lifespan="on",
        timeout_graceful_shutdown=5,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert thread.is_alive(), "uvicorn stopped while starting"
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}", application
    finally:
        server.should_exit = True
        thread.join(timeout=30)
