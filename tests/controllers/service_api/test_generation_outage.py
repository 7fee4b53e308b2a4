"""A database that goes away mid-generation (a restart): the answer is stored once, whole."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from ore.config import Settings
from ore.extensions import staged
from tests.conftest import make_settings
from tests.controllers.service_api.test_generation_stream import finished_message, scripted_app
from tests.extensions.test_staged import FlakyDatabase
from tests.upstreams import ScriptedServer, chunk

WORDS = [f"w{n} " for n in range(8)]


@pytest.fixture
def settings(database_url: str, tmp_path: Path, _clean_tables: None) -> Settings:
    return make_settings(database_url, tmp_path, MODEL_REQUEST_MAX_RETRIES=0)


def slow_words(body: dict[str, Any], request: Request) -> Response:
    """One word every 0.35 s: long enough for progress units to fall in the outage."""

    async def frames() -> AsyncIterator[bytes]:
        for word in WORDS:
            yield f"data: {json.dumps(chunk(word))}\n\n".encode()
            await asyncio.sleep(0.35)
        yield f"data: {json.dumps(chunk(finish='stop'))}\n\n".encode()
        yield b"data: [DONE]\n\n"

    return StreamingResponse(frames(), media_type="text/event-stream")


async def test_an_outage_mid_generation_stores_the_answer_once(
    client: httpx.AsyncClient,
    app: FastAPI,
    settings: Settings,
    scripted_server: ScriptedServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(staged, "FINISH_RETRY_DELAYS", (0.1, 0.1, 0.1, 0.1))
    service = await scripted_app(client, app, settings, scripted_server)
    flaky = FlakyDatabase(settings)
    app.state.ore.db = flaky
    scripted_server.queue(slow_words)

    async def outage() -> None:
        await asyncio.sleep(0.6)  # after the start unit, before the first progress unit
        flaky.lose_commit = 2  # the progress was recorded, then the commit failed

    down = asyncio.create_task(outage())
    body = {"query": "Say eight words.", "inputs": {"team": "ops"}, "user": "ada"}
    response = await client.post(
        "/v1/chat-messages",
        json={**body, "response_mode": "blocking", "auto_generate_name": False},
        headers=service.headers,
    )
    await down
    assert response.status_code == 200, response.text
    assert response.json()["answer"] == "".join(WORDS)
    assert flaky.refused == 2
    stored = await finished_message(settings, response.json()["id"])
    assert stored.status == "normal"
    assert stored.answer == "".join(WORDS)
    await flaky.dispose()
