"""POST /v1/chat-messages and /v1/completion-messages on the real local model: SSE framing
and event order, blocking responses folded from the same events, and what is stored."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from ore.config import Settings
from ore.core.local_models import CHAT_MODEL_NAME, EMBEDDING_MODEL_NAME
from ore.extensions.tasks import get_task
from ore.models import Conversation, Message, TaskRun
from ore.services import apps, model_providers
from tests.controllers.service_api.conftest import (
    ServiceApp,
    local_workspace,
    make_service_app,
)
from tests.factories import db_session

USAGE_FIELDS = {
    "prompt_tokens",
    "prompt_unit_price",
    "prompt_price_unit",
    "prompt_price",
    "completion_tokens",
    "completion_unit_price",
    "completion_price_unit",
    "completion_price",
    "total_tokens",
    "total_price",
    "currency",
    "latency",
    "time_to_first_token",
    "time_to_generate",
}


def local_config(**changes: Any) -> dict[str, Any]:
    """A chat config on the local model: short, deterministic answers."""
    config: dict[str, Any] = {
        "model": {
            "provider": "local",
            "name": CHAT_MODEL_NAME,
            "mode": "chat",
            "completion_params": {"max_tokens": 12, "temperature": 0, "seed": 7},
        },
        "pre_prompt": "You are a helpful assistant for {{team}}.",
        "user_input_form": [
            {"text-input": {"label": "Team", "variable": "team", "required": True}}
        ],
    }
    config.update(changes)
    return config


def completion_config() -> dict[str, Any]:
    return local_config(
        pre_prompt="Write one short sentence about {{topic}}.",
        user_input_form=[{"paragraph": {"label": "Topic", "variable": "topic", "required": True}}],
    )


def sse_frames(text: str) -> list[str]:
    """The frames of an SSE body; each must end with a blank line."""
    assert text.endswith("\n\n"), text[-200:]
    return text[:-2].split("\n\n")


def data_events(frames: list[str]) -> list[dict[str, Any]]:
    """Each ``data:`` frame parsed; its bytes must be compact JSON with raw UTF-8."""
    parsed = []
    for frame in frames:
        if frame == "event: ping":
            continue
        assert frame.startswith("data: "), frame
        payload = json.loads(frame.removeprefix("data: "))
        assert frame == "data: " + json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
        parsed.append(payload)
    return parsed


async def stored_message(settings: Settings, message_id: str) -> Message:
    async with db_session(settings) as session:
        message = await session.get(Message, uuid.UUID(message_id))
    assert message is not None
    return message


async def chat_app(client: httpx.AsyncClient, settings: Settings, **config: Any) -> ServiceApp:
    member = await local_workspace(settings)
    return await make_service_app(client, member, model_config=local_config(**config))


async def test_chat_stream_frames_events_in_order_and_stores_the_message(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    app = await chat_app(client, settings)
    body = {
        "query": "Say hello to the team.",
        "inputs": {"team": "Équipe ☀"},
        "user": "ada",
        "response_mode": "streaming",
    }
    response = await client.post("/v1/chat-messages", json=body, headers=app.headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/event-stream")
    events = data_events(sse_frames(response.text))

    kinds = [event["event"] for event in events]
    assert kinds[-1] == "message_end" and set(kinds[:-1]) == {"message"} and len(kinds) > 1
    first = events[0]
    task_id, message_id, conversation_id = (
        first["task_id"],
        first["message_id"],
        first["conversation_id"],
    )
    uuid.UUID(task_id), uuid.UUID(conversation_id)
    for event in events:
        assert event["conversation_id"] == conversation_id
        assert event["message_id"] == message_id == event["id"]
        assert event["task_id"] == task_id
        assert event["created_at"] == first["created_at"] and isinstance(first["created_at"], int)
    usage = events[-1]["metadata"]["usage"]
    assert set(usage) == USAGE_FIELDS
    assert usage["prompt_tokens"] > 0 and 0 < usage["completion_tokens"] <= 12
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    answer = "".join(event["answer"] for event in events[:-1])

    message = await stored_message(settings, message_id)
    assert message.answer == answer and message.status == "normal" and message.error is None
    assert message.query == body["query"] and message.inputs == {"team": "Équipe ☀"}
    assert message.message_tokens == usage["prompt_tokens"]
    assert message.answer_tokens == usage["completion_tokens"]
    assert message.message_metadata["usage"] == usage
    assert message.provider_response_latency > 0
    assert message.from_source == "api" and message.app_id == uuid.UUID(app.app_id)
    async with db_session(settings) as session:
        conversation = await session.get(Conversation, uuid.UUID(conversation_id))
        assert conversation is not None
        assert conversation.inputs == {"team": "Équipe ☀"} and conversation.dialogue_count == 1
        naming = await session.scalar(
            select(TaskRun.id).where(TaskRun.name == "conversation.generate_name")
        )
    # The name is made in the background, only once that task exists.
    assert (naming is not None) == (get_task("conversation.generate_name") is not None)


async def test_chat_blocking_is_folded_from_the_same_events(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    app = await chat_app(client, settings)
    # No background naming: a naming call between the two would change llama.cpp's prompt
    # cache, and a differently batched evaluation can change a greedy answer.
    body = {
        "query": "Name a colour.",
        "inputs": {"team": "docs"},
        "user": "ada",
        "auto_generate_name": False,
    }
    response = await client.post("/v1/chat-messages", json=body, headers=app.headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    result = response.json()
    assert result["event"] == "message" and result["mode"] == "chat"
    assert result["id"] == result["message_id"]
    assert set(result) == {
        "event",
        "task_id",
        "id",
        "message_id",
        "conversation_id",
        "mode",
        "answer",
        "metadata",
        "created_at",
    }
    assert set(result["metadata"]["usage"]) == USAGE_FIELDS
    message = await stored_message(settings, result["id"])
    assert message.answer == result["answer"] and message.answer
    assert str(message.conversation_id) == result["conversation_id"]

    # The same question streamed (greedy decoding) gives the same answer.
    streamed = await client.post(
        "/v1/chat-messages", json={**body, "response_mode": "streaming"}, headers=app.headers
    )
    events = data_events(sse_frames(streamed.text))
    assert "".join(e["answer"] for e in events if e["event"] == "message") == result["answer"]


async def test_completion_stream_and_blocking_carry_no_conversation(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    member = await local_workspace(settings)
    app = await make_service_app(
        client, member, mode="completion", model_config=completion_config()
    )
    body = {"inputs": {"topic": "rivers"}, "user": "ada", "response_mode": "streaming"}
    response = await client.post("/v1/completion-messages", json=body, headers=app.headers)
    assert response.status_code == 200, response.text
    events = data_events(sse_frames(response.text))
    assert events[-1]["event"] == "message_end"
    assert {e["event"] for e in events[:-1]} == {"message"}
    for event in events:
        assert "conversation_id" not in event
        assert set(event) >= {"event", "message_id", "created_at", "task_id", "id"}
    message = await stored_message(settings, events[0]["message_id"])
    assert message.answer == "".join(e["answer"] for e in events[:-1])
    assert message.inputs == {"topic": "rivers"} and message.query == ""

    blocking = await client.post(
        "/v1/completion-messages",
        json={"inputs": {"topic": "rivers"}, "user": "ada", "response_mode": "blocking"},
        headers=app.headers,
    )
    assert blocking.status_code == 200, blocking.text
    result = blocking.json()
    assert result["mode"] == "completion" and "conversation_id" not in result
    assert result["answer"] == message.answer
    assert set(result["metadata"]["usage"]) == USAGE_FIELDS


async def test_agent_chat_streams_agent_messages(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    member = await local_workspace(settings)
    app = await make_service_app(client, member, mode="agent-chat", model_config=local_config())
    body = {
        "query": "Say hi.",
        "inputs": {"team": "ops"},
        "user": "ada",
        "response_mode": "streaming",
    }
    response = await client.post("/v1/chat-messages", json=body, headers=app.headers)
    assert response.status_code == 200, response.text
    events = data_events(sse_frames(response.text))
    assert events[-1]["event"] == "message_end"
    # An app without tools: the answer, then the one turn's thought (as Dify sends it).
    assert [e["event"] for e in events[-2:]] == ["agent_thought", "message_end"]
    assert {e["event"] for e in events[:-2]} == {"agent_message"}
    message = await stored_message(settings, events[0]["message_id"])
    assert message.answer == "".join(e["answer"] for e in events[:-2])
    assert events[-2]["thought"] == message.answer and events[-2]["tool"] == ""
    assert message.agent_based and message.status == "normal"


async def test_an_annotation_answers_instead_of_the_model(
    client: httpx.AsyncClient, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Config versions read by generations are reused for a while; turning reply on must
    # reach the next question however long that is.
    monkeypatch.setattr(apps.RECENT_CONFIGS, "ttl", 600.0)
    app = await chat_app(client, settings)
    before = {"query": "Hi", "inputs": {"team": "ops"}, "user": "ada", "response_mode": "blocking"}
    assert (await client.post("/v1/chat-messages", json=before, headers=app.headers)).is_success
    added = await client.post(
        "/v1/apps/annotations",
        json={"question": "When does the office open?", "answer": "At 9, sharp. ☕"},
        headers=app.headers,
    )
    assert added.status_code == 201, added.text
    enable = {
        "embedding_provider_name": "local",
        "embedding_model_name": EMBEDDING_MODEL_NAME,
        "score_threshold": 0.8,
    }
    job = await client.post("/v1/apps/annotation-reply/enable", json=enable, headers=app.headers)
    assert job.status_code == 200, job.text
    status_url = f"/v1/apps/annotation-reply/enable/status/{job.json()['job_id']}"
    for _ in range(300):
        status = (await client.get(status_url, headers=app.headers)).json()["job_status"]
        if status in ("completed", "error"):
            break
        await asyncio.sleep(0.1)
    assert status == "completed"

    body = {
        "query": "When does the office open?",
        "inputs": {"team": "ops"},
        "user": "ada",
        "response_mode": "streaming",
    }
    response = await client.post("/v1/chat-messages", json=body, headers=app.headers)
    events = data_events(sse_frames(response.text))
    assert [(e["event"], e.get("answer")) for e in events] == [
        ("message", "At 9, sharp. ☕"),
        ("message_end", None),
    ]
    reply = events[-1]["metadata"]["annotation_reply"]
    # Annotations made over the Service API have no author account.
    assert reply == {"id": added.json()["id"], "account": {"id": None, "name": ""}}
    assert events[-1]["metadata"]["usage"]["total_tokens"] == 0
    message = await stored_message(settings, events[0]["message_id"])
    assert message.answer == "At 9, sharp. ☕" and message.status == "normal"

    # Blocking mode is folded from the same events.
    blocking = await client.post(
        "/v1/chat-messages", json={**body, "response_mode": "blocking"}, headers=app.headers
    )
    assert blocking.json()["answer"] == "At 9, sharp. ☕"
    assert blocking.json()["metadata"]["annotation_reply"]["id"] == added.json()["id"]


async def test_a_new_conversation_reads_nothing_ahead_when_recent_ones_did(
    app: FastAPI,
    client: httpx.AsyncClient,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A busy app's next new conversation reuses the config and binding that the previous
    one read: the only read-only unit before its start unit is the key check."""
    context = app.state.ore
    monkeypatch.setattr(apps.RECENT_CONFIGS, "ttl", 600.0)
    model_providers.bindings_of(context.models).ttl = 600.0
    service = await chat_app(client, settings)
    original = context.db.read_only
    opened: list[int] = []

    def counting() -> Any:
        opened.append(1)
        return original()

    monkeypatch.setattr(context.db, "read_only", counting)
    body = {"query": "Hi", "inputs": {"team": "ops"}, "user": "ada", "response_mode": "blocking"}
    answers = []
    for _ in range(2):
        opened.clear()
        response = await client.post("/v1/chat-messages", json=body, headers=service.headers)
        assert response.status_code == 200, response.text
        answers.append((response.json()["answer"], len(opened)))
    assert [count for _, count in answers] == [2, 1]
    assert answers[0][0] == answers[1][0] != ""  # the same config and model answered
