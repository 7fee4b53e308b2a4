"""Streams as they happen, through a real HTTP server: the message row before the first
byte, pings while the model is silent, a client that leaves, a stop, a model that fails,
the per-app concurrency limit, and memory of earlier turns.

Answers come from the real local model; the scripted upstream stands in only for failures
and timing (a slow first token), through ``openai_api_compatible``.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select, update
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from ore.config import Settings
from ore.core.local_models import CHAT_MODEL_NAME
from ore.models import App, Message
from tests.conftest import make_settings
from tests.controllers.service_api.conftest import (
    COMPAT,
    ServiceApp,
    add_compat,
    live_server,
    local_workspace,
    make_service_app,
)
from tests.controllers.service_api.test_generation import data_events, local_config, sse_frames
from tests.factories import db_session
from tests.upstreams import Handler, ScriptedServer, chunk, error, openai_stream

STORY = {"query": "Write a long story about a dragon and a knight.", "inputs": {"team": "tales"}}


@pytest.fixture
def settings(database_url: str, tmp_path: Path, _clean_tables: None) -> Settings:
    # One scripted answer is one upstream call; pings come fast enough to test.
    return make_settings(
        database_url,
        tmp_path,
        MODEL_REQUEST_MAX_RETRIES=0,
        MODEL_CREDENTIAL_COOLDOWN=0.01,
        SSE_PING_INTERVAL=0.2,
    )


def slow_first_token(delay: float, *chunks: dict[str, Any]) -> Handler:
    """An OpenAI stream that stays silent for ``delay`` seconds before its first chunk."""

    def handler(body: dict[str, Any], request: Request) -> Response:
        async def frames() -> AsyncIterator[bytes]:
            await asyncio.sleep(delay)
            for item in chunks:
                yield f"data: {json.dumps(item)}\n\n".encode()
            yield b"data: [DONE]\n\n"

        return StreamingResponse(frames(), media_type="text/event-stream")

    return handler


def scripted_config() -> dict[str, Any]:
    config = local_config(pre_prompt="You help {{team}}.")
    config["model"] = {"provider": COMPAT, "name": CHAT_MODEL_NAME, "completion_params": {}}
    return config


async def scripted_app(
    http: httpx.AsyncClient, app: FastAPI, settings: Settings, scripted: ScriptedServer
) -> ServiceApp:
    member = await local_workspace(settings)
    await add_compat(app, settings, member.tenant.id, f"{scripted.url}/v1")
    return await make_service_app(http, member, model_config=scripted_config())


class Frames:
    """SSE frames of a response, read as they arrive."""

    def __init__(self, response: httpx.Response) -> None:
        self._bytes = response.aiter_bytes()
        self._buffer = b""

    async def next(self) -> str | None:
        while b"\n\n" not in self._buffer:
            try:
                self._buffer += await anext(self._bytes)
            except StopAsyncIteration:
                assert not self._buffer, self._buffer
                return None
        frame, self._buffer = self._buffer.split(b"\n\n", 1)
        return frame.decode()

    async def rest(self) -> list[str]:
        frames = []
        while (frame := await self.next()) is not None:
            frames.append(frame)
        return frames

    async def next_data(self) -> dict[str, Any]:
        while True:
            frame = await self.next()
            assert frame is not None, "the stream ended"
            if frame != "event: ping":
                return data_events([frame])[0]


async def finished_message(settings: Settings, message_id: str, timeout: float = 60) -> Message:
    """The message once its finish unit has stored the usage."""
    deadline = time.monotonic() + timeout
    while True:
        async with db_session(settings) as session:
            message = await session.get(Message, uuid.UUID(message_id))
        if message is not None and "usage" in message.message_metadata:
            return message
        assert time.monotonic() < deadline, "the generation did not finish"
        await asyncio.sleep(0.1)


def stream_body(user: str = "ada", **fields: Any) -> dict[str, Any]:
    # No background naming: it would call the model too, and take a scripted answer.
    return {"user": user, "response_mode": "streaming", "auto_generate_name": False, **fields}


async def test_row_first_then_pings_while_the_model_is_silent(
    settings: Settings, scripted_server: ScriptedServer
) -> None:
    with live_server(settings) as (base_url, application):
        async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
            app = await scripted_app(http, application, settings, scripted_server)
            scripted_server.queue(
                slow_first_token(
                    1.0,
                    chunk("Hel"),
                    chunk("lo"),
                    chunk(finish="stop"),
                    chunk(usage={"prompt_tokens": 9, "completion_tokens": 2}, no_choices=True),
                )
            )
            body = stream_body(query="Hi", inputs={"team": "ops"})
            async with http.stream(
                "POST", "/v1/chat-messages", json=body, headers=app.headers
            ) as response:
                assert response.status_code == 200
                # Headers are out (before any frame is read): the row is there.
                async with db_session(settings) as session:
                    rows = (await session.scalars(select(Message))).all()
                assert len(rows) == 1 and rows[0].query == "Hi" and rows[0].answer == ""
                frames = await Frames(response).rest()
    first_data = next(i for i, frame in enumerate(frames) if frame.startswith("data: "))
    assert first_data >= 3 and set(frames[:first_data]) == {"event: ping"}
    events = data_events(frames)
    assert [(e["event"], e.get("answer")) for e in events] == [
        ("message", "Hel"),
        ("message", "lo"),
        ("message_end", None),
    ]
    usage = events[-1]["metadata"]["usage"]
    assert (usage["prompt_tokens"], usage["completion_tokens"]) == (9, 2)
    assert usage["time_to_first_token"] >= 0.9
    message = await finished_message(settings, events[0]["message_id"])
    assert message.answer == "Hello" and message.status == "normal"
    assert (message.message_tokens, message.answer_tokens) == (9, 2)


async def test_a_client_that_leaves_does_not_lose_the_answer(settings: Settings) -> None:
    with live_server(settings) as (base_url, _):
        async with httpx.AsyncClient(base_url=base_url, timeout=60) as http:
            member = await local_workspace(settings)
            config = local_config()
            config["model"]["completion_params"]["max_tokens"] = 32
            app = await make_service_app(http, member, model_config=config)
            whole = await http.post(
                "/v1/chat-messages",
                json={**STORY, "user": "ada", "auto_generate_name": False},
                headers=app.headers,
            )
            assert whole.status_code == 200, whole.text
            expected = whole.json()["answer"]

            async with http.stream(
                "POST", "/v1/chat-messages", json={**STORY, **stream_body()}, headers=app.headers
            ) as response:
                first = await Frames(response).next_data()
            # The client has gone after one event; the generation goes on and is stored.
            message = await finished_message(settings, first["message_id"])
    assert len(expected) > len(first["answer"])
    assert message.answer == expected and message.status == "normal"
    assert message.answer_tokens > 1


async def test_stop_ends_the_stream_and_keeps_the_partial_answer(settings: Settings) -> None:
    with live_server(settings) as (base_url, _):
        async with httpx.AsyncClient(base_url=base_url, timeout=60) as http:
            member = await local_workspace(settings)
            config = local_config()
            config["model"]["completion_params"]["max_tokens"] = 400
            app = await make_service_app(http, member, model_config=config)
            async with http.stream(
                "POST", "/v1/chat-messages", json={**STORY, **stream_body()}, headers=app.headers
            ) as response:
                frames = Frames(response)
                first = await frames.next_data()
                stop = f"/v1/chat-messages/{first['task_id']}/stop"
                # Another user's stop is a silent success that changes nothing.
                other = await http.post(stop, json={"user": "grace"}, headers=app.headers)
                assert other.status_code == 200 and other.json() == {"result": "success"}
                second = await frames.next_data()
                assert second["event"] == "message"
                own = await http.post(stop, json={"user": "ada"}, headers=app.headers)
                assert own.status_code == 200 and own.json() == {"result": "success"}
                events = [first, second, *data_events(await frames.rest())]
            message = await finished_message(settings, first["message_id"])
    assert events[-1]["event"] == "message_end"
    assert {e["event"] for e in events[:-1]} == {"message"}
    answer = "".join(e["answer"] for e in events[:-1])
    assert message.status == "stopped" and message.answer == answer
    assert 0 < message.answer_tokens < 400


async def test_a_model_failing_mid_stream_ends_with_an_error_event(
    client: httpx.AsyncClient, app: FastAPI, settings: Settings, scripted_server: ScriptedServer
) -> None:
    service = await scripted_app(client, app, settings, scripted_server)
    # The upstream connection ends before any finish_reason.
    scripted_server.queue(openai_stream(chunk("Hel"), chunk("lo"), done=False))
    body = stream_body(query="Hi", inputs={"team": "ops"})
    response = await client.post("/v1/chat-messages", json=body, headers=service.headers)
    assert response.status_code == 200
    events = data_events(sse_frames(response.text))
    assert [e["event"] for e in events] == ["message", "message", "error"]
    failure = events[-1]
    assert failure["status"] == 400 and failure["code"] == "completion_request_error"
    assert failure["message"] and "task_id" not in failure
    assert failure["message_id"] == events[0]["message_id"]
    assert failure["conversation_id"] == events[0]["conversation_id"]
    message = await finished_message(settings, failure["message_id"])
    assert message.status == "error" and message.answer == "Hello"
    assert message.error == failure["message"]

    # Blocking: the upstream refuses at once, so the HTTP response is the error.
    scripted_server.queue(error(500, "upstream exploded"))
    blocking = await client.post(
        "/v1/chat-messages", json={**body, "response_mode": "blocking"}, headers=service.headers
    )
    assert blocking.status_code == 400, blocking.text
    assert blocking.json()["code"] == "completion_request_error"
    async with db_session(settings) as session:
        statuses = (await session.scalars(select(Message.status))).all()
    assert sorted(statuses) == ["error", "error"]


async def test_concurrent_generations_over_the_app_limit_get_429(
    client: httpx.AsyncClient, app: FastAPI, settings: Settings, scripted_server: ScriptedServer
) -> None:
    service = await scripted_app(client, app, settings, scripted_server)
    async with db_session(settings) as session:
        await session.execute(
            update(App).where(App.id == uuid.UUID(service.app_id)).values(max_active_requests=1)
        )
    answer = (chunk("Ok"), chunk(finish="stop"))
    scripted_server.queue(slow_first_token(1.0, *answer))
    body = stream_body(query="Hi", inputs={"team": "ops"})
    first = asyncio.create_task(
        client.post("/v1/chat-messages", json=body, headers=service.headers)
    )
    deadline = time.monotonic() + 5
    while True:  # until the first generation has started
        async with db_session(settings) as session:
            if await session.scalar(select(Message.id)) is not None:
                break
        assert time.monotonic() < deadline
        await asyncio.sleep(0.02)
    second = await client.post("/v1/chat-messages", json=body, headers=service.headers)
    assert second.status_code == 429
    assert second.json() == {
        "code": "too_many_requests",
        "message": "Too many requests. Please try again later. The current maximum "
        f"concurrent requests allowed for {service.app_id} is 1.",
        "status": 429,
    }
    assert (await first).status_code == 200
    # The slot is free again once the first generation has finished.
    scripted_server.queue(openai_stream(*answer))
    third = await client.post("/v1/chat-messages", json=body, headers=service.headers)
    assert third.status_code == 200 and data_events(sse_frames(third.text))[-1]["event"] == (
        "message_end"
    )


async def test_memory_sends_earlier_turns_and_keeps_the_first_inputs(
    client: httpx.AsyncClient, app: FastAPI, settings: Settings, scripted_server: ScriptedServer
) -> None:
    service = await scripted_app(client, app, settings, scripted_server)
    scripted_server.queue(openai_stream(chunk("Hello "), chunk("Ada!"), chunk(finish="stop")))
    first = await client.post(
        "/v1/chat-messages",
        json={
            "query": "My name is Ada.",
            "inputs": {"team": "red"},
            "user": "ada",
            "auto_generate_name": False,
        },
        headers=service.headers,
    )
    assert first.status_code == 200, first.text
    scripted_server.queue(openai_stream(chunk("Ada."), chunk(finish="stop")))
    second = await client.post(
        "/v1/chat-messages",
        json={
            "query": "What is my name?",
            "inputs": {"team": "blue"},  # ignored: the conversation keeps its first inputs
            "user": "ada",
            "conversation_id": first.json()["conversation_id"],
        },
        headers=service.headers,
    )
    assert second.status_code == 200, second.text
    assert second.json()["answer"] == "Ada."
    sent = scripted_server.received[-1][1]["messages"]
    assert [(m["role"], m["content"]) for m in sent] == [
        ("system", "You help red."),
        ("user", "My name is Ada."),
        ("assistant", "Hello Ada!"),
        ("user", "What is my name?"),
    ]
