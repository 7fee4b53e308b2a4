"""Agent-chat apps over the Service API: the tool-calling loop's ``agent_thought`` and
``agent_message`` events, what is stored, and GET /v1/messages.

The model is ``openai_api_compatible`` pointed at the scripted upstream: a tiny local model
cannot be relied on to call tools, so each test queues the tool calls and the answers, and
checks what ore sent back to the model (the tools offered, the tool results).
"""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from ore.config import Settings
from ore.core.local_models import CHAT_MODEL_NAME
from tests.conftest import make_settings
from tests.controllers.service_api.conftest import (
    COMPAT,
    ServiceApp,
    add_compat,
    live_server,
    local_workspace,
    make_service_app,
)
from tests.controllers.service_api.test_generation import data_events, sse_frames, stored_message
from tests.controllers.service_api.test_generation_stream import Frames, finished_message
from tests.upstreams import Handler, ScriptedServer, chunk, error, hang, openai_stream

TIME_TOOL = {
    "provider_type": "builtin",
    "provider_id": "time",
    "provider_name": "time",
    "tool_name": "current_time",
    "tool_parameters": {},
    "enabled": True,
}
CALCULATOR = {
    "provider_type": "builtin",
    "provider_id": "maths",
    "tool_name": "eval_expression",
    "tool_parameters": {},
    "enabled": True,
}
TOKYO_TIME = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d JST$")


@pytest.fixture
def settings(database_url: str, tmp_path: Path, _clean_tables: None) -> Settings:
    # One scripted answer is one upstream call.
    return make_settings(database_url, tmp_path, MODEL_REQUEST_MAX_RETRIES=0)


@pytest.fixture
def upstream(scripted_server: ScriptedServer) -> ScriptedServer:
    scripted_server.script.clear()
    scripted_server.received.clear()
    return scripted_server


def agent_config(*tools: dict[str, Any], **agent_mode: Any) -> dict[str, Any]:
    return {
        "model": {
            "provider": COMPAT,
            "name": CHAT_MODEL_NAME,
            "mode": "chat",
            "completion_params": {},
        },
        "pre_prompt": "You answer questions about time and numbers.",
        "agent_mode": {"enabled": True, "strategy": "function_call", "tools": list(tools)}
        | agent_mode,
    }


async def agent_app(
    client: httpx.AsyncClient,
    app: FastAPI,
    settings: Settings,
    upstream: ScriptedServer,
    config: dict[str, Any],
) -> ServiceApp:
    member = await local_workspace(settings)
    await add_compat(app, settings, member.tenant.id, f"{upstream.url}/v1")
    return await make_service_app(client, member, mode="agent-chat", model_config=config)


def tool_call(name: str, arguments: dict[str, Any], *, call_id: str = "call_1") -> dict[str, Any]:
    return {
        "index": 0,
        "id": call_id,
        "type": "function",
        "function": {"name": name, "arguments": json.dumps(arguments)},
    }


def usage(prompt: int, completion: int) -> dict[str, Any]:
    return chunk(no_choices=True, usage={"prompt_tokens": prompt, "completion_tokens": completion})


def tool_turn(call: dict[str, Any], *, text: str = "", tokens: tuple[int, int]) -> Handler:
    frames = [chunk(text)] if text else []
    return openai_stream(
        *frames, chunk(tool_calls=[call]), chunk(finish="tool_calls"), usage(*tokens)
    )


def answer_turn(*pieces: str, tokens: tuple[int, int]) -> Handler:
    return openai_stream(*[chunk(p) for p in pieces], chunk(finish="stop"), usage(*tokens))


async def ask(client: httpx.AsyncClient, app: ServiceApp, query: str) -> list[dict[str, Any]]:
    # No background naming: it would call the model too, and take a queued answer.
    body = {
        "query": query,
        "inputs": {},
        "user": "ada",
        "response_mode": "streaming",
        "auto_generate_name": False,
    }
    response = await client.post("/v1/chat-messages", json=body, headers=app.headers)
    assert response.status_code == 200, response.text
    return data_events(sse_frames(response.text))


def offered_tools(request_body: dict[str, Any]) -> list[str]:
    return [tool["function"]["name"] for tool in request_body.get("tools") or []]


async def test_a_tool_call_streams_a_thought_then_the_answer_and_both_are_stored(
    client: httpx.AsyncClient, app: FastAPI, settings: Settings, upstream: ScriptedServer
) -> None:
    unknown = {**TIME_TOOL, "provider_id": "no_such_provider", "tool_name": "nothing"}
    disabled = {**CALCULATOR, "enabled": False}
    config = agent_config(TIME_TOOL, unknown, disabled)
    service = await agent_app(client, app, settings, upstream, config)
    upstream.queue(
        tool_turn(
            tool_call("current_time", {"timezone": "Asia/Tokyo"}),
            text="Let me look.",
            tokens=(20, 5),
        ),
        answer_turn("It is ", "tea time.", tokens=(30, 7)),
    )
    events = await ask(client, service, "What time is it in Tokyo?")

    assert [(e["event"], e.get("answer"), e.get("position")) for e in events] == [
        ("agent_message", "Let me look.", None),
        ("agent_thought", None, 1),
        ("agent_message", "It is ", None),
        ("agent_message", "tea time.", None),
        ("agent_thought", None, 2),
        ("message_end", None, None),
    ]
    first = events[0]
    for event in events:
        assert event["message_id"] == first["message_id"]
        assert event["conversation_id"] == first["conversation_id"]
        assert event["task_id"] == first["task_id"]
    called, closing = events[1], events[4]
    uuid.UUID(called["id"]), uuid.UUID(closing["id"])
    assert called["id"] != closing["id"] != first["message_id"]
    assert called["tool"] == "current_time" and called["thought"] == "Let me look."
    assert called["tool_labels"]["current_time"]["en_US"] == "Current Time"
    assert json.loads(called["tool_input"]) == {"current_time": {"timezone": "Asia/Tokyo"}}
    observation = json.loads(called["observation"])["current_time"]
    assert TOKYO_TIME.match(observation), observation
    assert called["message_files"] == []
    assert (closing["tool"], closing["thought"], closing["observation"]) == (
        "",
        "It is tea time.",
        "",
    )
    summed = events[-1]["metadata"]["usage"]
    assert (summed["prompt_tokens"], summed["completion_tokens"]) == (50, 12)
    assert summed["total_tokens"] == 62
    assert "agent_thoughts" not in events[-1]["metadata"]

    # Only the enabled tool ore has was offered; its result went back to the model.
    (_, asked, _), (_, followed, _) = upstream.received
    assert offered_tools(asked) == ["current_time"]
    assert [m["role"] for m in followed["messages"]] == ["system", "user", "assistant", "tool"]
    assert followed["messages"][-1] == {
        "role": "tool",
        "content": observation,
        "tool_call_id": "call_1",
    }

    message = await stored_message(settings, first["message_id"])
    assert message.answer == "Let me look.It is tea time." and message.status == "normal"
    assert (message.message_tokens, message.answer_tokens) == (50, 12)
    stored = message.message_metadata["agent_thoughts"]
    assert [t["id"] for t in stored] == [called["id"], closing["id"]]

    listed = await client.get(
        "/v1/messages",
        params={"conversation_id": first["conversation_id"], "user": "ada"},
        headers=service.headers,
    )
    assert listed.status_code == 200, listed.text
    [item] = listed.json()["data"]
    assert item["answer"] == message.answer
    thoughts = item["agent_thoughts"]
    assert [set(t) for t in thoughts] == [
        {
            "id",
            "chain_id",
            "message_id",
            "position",
            "thought",
            "tool",
            "tool_labels",
            "tool_input",
            "observation",
            "files",
            "created_at",
        }
    ] * 2
    for shown, streamed in zip(thoughts, (called, closing), strict=True):
        for key in ("id", "position", "thought", "tool", "tool_labels", "tool_input"):
            assert shown[key] == streamed[key]
        assert shown["observation"] == streamed["observation"]
        assert shown["message_id"] == first["message_id"] and shown["chain_id"] is None
        assert shown["files"] == [] and isinstance(shown["created_at"], int)


async def test_a_failing_tool_is_an_observation_and_the_answer_still_arrives(
    client: httpx.AsyncClient, app: FastAPI, settings: Settings, upstream: ScriptedServer
) -> None:
    service = await agent_app(client, app, settings, upstream, agent_config(TIME_TOOL))
    upstream.queue(
        tool_turn(tool_call("current_time", {"timezone": "Mars/Olympus"}), tokens=(10, 3)),
        answer_turn("Mars has no time zone.", tokens=(15, 5)),
    )
    events = await ask(client, service, "What time is it on Mars?")

    thought = next(e for e in events if e["event"] == "agent_thought")
    assert json.loads(thought["observation"]) == {"current_time": "Invalid timezone: Mars/Olympus"}
    assert events[-1]["event"] == "message_end"
    answer = "".join(e["answer"] for e in events if e["event"] == "agent_message")
    assert answer == "Mars has no time zone."
    assert upstream.received[1][1]["messages"][-1]["content"] == "Invalid timezone: Mars/Olympus"
    message = await stored_message(settings, events[0]["message_id"])
    assert message.answer == answer and message.status == "normal"


async def test_parameters_the_app_fixes_are_not_asked_of_the_model(
    client: httpx.AsyncClient, app: FastAPI, settings: Settings, upstream: ScriptedServer
) -> None:
    tokyo = {**TIME_TOOL, "tool_parameters": {"timezone": "Asia/Tokyo", "format": ""}}
    service = await agent_app(client, app, settings, upstream, agent_config(tokyo))
    upstream.queue(
        tool_turn(tool_call("current_time", {"timezone": "UTC"}), tokens=(10, 3)),
        answer_turn("Done.", tokens=(15, 2)),
    )
    events = await ask(client, service, "What time is it?")

    [offered] = upstream.received[0][1]["tools"]
    assert set(offered["function"]["parameters"]["properties"]) == {"format"}
    thought = next(e for e in events if e["event"] == "agent_thought")
    assert TOKYO_TIME.match(json.loads(thought["observation"])["current_time"])


async def test_max_iteration_bounds_the_turns_that_may_call_tools(
    client: httpx.AsyncClient, app: FastAPI, settings: Settings, upstream: ScriptedServer
) -> None:
    config = agent_config(TIME_TOOL, CALCULATOR, max_iteration=1)
    service = await agent_app(client, app, settings, upstream, config)
    upstream.queue(
        tool_turn(tool_call("eval_expression", {"expression": "6 * 7"}), tokens=(10, 3)),
        # Tools are no longer offered; a call the model makes anyway is not run.
        tool_turn(tool_call("eval_expression", {"expression": "1 + 1"}), text="42", tokens=(12, 2)),
    )
    events = await ask(client, service, "What is 6 * 7?")

    thoughts = [e for e in events if e["event"] == "agent_thought"]
    assert [(t["position"], t["tool"]) for t in thoughts] == [(1, "eval_expression"), (2, "")]
    assert json.loads(thoughts[0]["observation"]) == {"eval_expression": "42"}
    assert len(upstream.received) == 2
    first, last = (body for _, body, _ in upstream.received)
    assert offered_tools(first) == ["current_time", "eval_expression"]
    assert offered_tools(last) == []
    assert events[-1]["event"] == "message_end"
    message = await stored_message(settings, events[0]["message_id"])
    assert message.answer == "42" and len(message.message_metadata["agent_thoughts"]) == 2


async def test_a_model_failure_after_a_tool_call_keeps_the_thought(
    client: httpx.AsyncClient, app: FastAPI, settings: Settings, upstream: ScriptedServer
) -> None:
    service = await agent_app(client, app, settings, upstream, agent_config(CALCULATOR))
    upstream.queue(
        tool_turn(tool_call("eval_expression", {"expression": "2 ** 10"}), tokens=(10, 3)),
        error(400, "context too long"),
    )
    events = await ask(client, service, "What is 2 ** 10?")

    assert [e["event"] for e in events] == ["agent_thought", "error"]
    message = await stored_message(settings, events[0]["message_id"])
    assert message.status == "error" and message.error
    [stored] = message.message_metadata["agent_thoughts"]
    assert stored["id"] == events[0]["id"]
    assert json.loads(stored["observation"]) == {"eval_expression": "1024"}
    assert message.message_tokens == 10


async def test_blocking_mode_is_refused_before_any_model_call(
    client: httpx.AsyncClient, app: FastAPI, settings: Settings, upstream: ScriptedServer
) -> None:
    service = await agent_app(client, app, settings, upstream, agent_config(TIME_TOOL))
    response = await client.post(
        "/v1/chat-messages",
        json={"query": "Hi", "inputs": {}, "user": "ada", "response_mode": "blocking"},
        headers=service.headers,
    )
    assert response.status_code == 400
    assert response.json() == {
        "code": "invalid_param",
        "message": "Agent Chat App does not support blocking mode",
        "status": 400,
    }
    assert upstream.received == []


async def test_a_stop_while_the_model_is_silent_keeps_the_thoughts(
    settings: Settings, upstream: ScriptedServer
) -> None:
    with live_server(settings) as (base_url, application):
        async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
            service = await agent_app(
                http, application, settings, upstream, agent_config(CALCULATOR)
            )
            upstream.queue(
                tool_turn(tool_call("eval_expression", {"expression": "3 * 3"}), tokens=(10, 3)),
                hang(20.0),  # the turn after the tool call never answers
            )
            body = {
                "query": "What is 3 * 3?",
                "inputs": {},
                "user": "ada",
                "response_mode": "streaming",
                "auto_generate_name": False,
            }
            async with http.stream(
                "POST", "/v1/chat-messages", json=body, headers=service.headers
            ) as response:
                frames = Frames(response)
                thought = await frames.next_data()
                assert thought["event"] == "agent_thought"
                stopped = await http.post(
                    f"/v1/chat-messages/{thought['task_id']}/stop",
                    json={"user": "ada"},
                    headers=service.headers,
                )
                assert stopped.status_code == 200
                rest = data_events(await frames.rest())
            message = await finished_message(settings, thought["message_id"])
    assert [e["event"] for e in rest] == ["message_end"]
    assert message.status == "stopped" and message.answer == ""
    [stored] = message.message_metadata["agent_thoughts"]
    assert stored["id"] == thought["id"]
    assert json.loads(stored["observation"]) == {"eval_expression": "9"}
    assert message.message_tokens == 10
