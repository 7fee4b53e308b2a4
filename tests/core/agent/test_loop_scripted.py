"""The agent loop against a scripted OpenAI-compatible upstream (tool calls that a tiny
local model cannot be relied on to make), through the runtime's real adapter and HTTP."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from ore.core.agent import AgentAnswer, AgentEvent, AgentFinished, AgentThought, run_agent
from ore.core.errors import InvalidParam
from ore.core.model_runtime import ChatMessage
from ore.core.model_runtime.entities import NamedToolChoice
from ore.core.model_runtime.errors import ModelRuntimeError
from ore.core.model_runtime.retry import CallPolicy
from ore.core.model_runtime.vendors.openai_api_compatible import provider as compatible
from ore.core.tools import CalculatorTool, CurrentTimeTool, Tool, ToolIdentity, ToolResult
from tests.core.agent.conftest import Bound
from tests.upstreams import ScriptedServer, chunk, error, openai_stream

INSTANT = datetime(2026, 1, 15, 12, 30, 5, tzinfo=UTC)
QUESTION = [
    ChatMessage(role="system", content="You are helpful."),
    ChatMessage(role="user", content="What time is it in Tokyo?"),
]


def call(index: int, **fields: Any) -> dict[str, Any]:
    """One tool-call delta in OpenAI's streaming shape."""
    function = {k: v for k, v in fields.items() if k in ("name", "arguments")}
    out: dict[str, Any] = {"index": index, "function": function}
    if "id" in fields:
        out["id"] = fields["id"]
        out["type"] = "function"
    return out


def usage(prompt: int, completion: int) -> dict[str, Any]:
    return chunk(no_choices=True, usage={"prompt_tokens": prompt, "completion_tokens": completion})


def tool_turn(*calls: dict[str, Any], text: str = "", tokens: tuple[int, int] = (20, 5)) -> Any:
    frames = [chunk(text)] if text else []
    frames += [chunk(tool_calls=[c]) for c in calls]
    return openai_stream(*frames, chunk(finish="tool_calls"), usage(*tokens))


def answer_turn(*pieces: str, tokens: tuple[int, int] = (30, 7)) -> Any:
    return openai_stream(*[chunk(p) for p in pieces], chunk(finish="stop"), usage(*tokens))


def model(upstream: ScriptedServer, http_client: httpx.AsyncClient) -> Bound:
    return Bound(
        compatible,
        {"base_url": upstream.url + "/v1"},
        http_client,
        CallPolicy(max_retries=0, first_chunk_timeout=5, chunk_timeout=5, deadline=10),
    )


def tools() -> list[Tool]:
    return [CurrentTimeTool(clock=lambda: INSTANT), CalculatorTool()]


async def collect(events: Any) -> list[AgentEvent]:
    return [event async for event in events]


async def test_tool_call_then_answer(
    upstream: ScriptedServer, http_client: httpx.AsyncClient
) -> None:
    upstream.queue(
        tool_turn(
            call(0, id="call_1", name="current_time", arguments=""),
            call(0, arguments='{"timezone":'),
            call(0, arguments=' "Asia/Tokyo"}'),
            text="Let me check. ",
        ),
        answer_turn("It is 21:30 ", "in Tokyo."),
    )
    events = await collect(
        run_agent(
            model(upstream, http_client),
            QUESTION,
            tools(),
            model_name="tiny",
            parameters={"temperature": 0.2},
            user="end-user-1",
        )
    )
    kinds = [type(e).__name__ for e in events]
    assert kinds == [
        "AgentAnswer",
        "AgentThought",
        "AgentAnswer",
        "AgentAnswer",
        "AgentThought",
        "AgentFinished",
    ]
    first, second = (e for e in events if isinstance(e, AgentThought))
    assert first.position == 1
    assert first.thought == "Let me check. "
    assert first.tool == "current_time"
    assert json.loads(first.tool_input) == {"current_time": {"timezone": "Asia/Tokyo"}}
    assert json.loads(first.observation) == {"current_time": "2026-01-15 21:30:05 JST"}
    assert first.tool_labels == {
        "current_time": {"en_US": "Current Time", "zh_Hans": "获取当前时间"}
    }
    [invocation] = first.invocations
    assert invocation.provider == "time" and invocation.call_id == "call_1"
    assert not invocation.result.is_error
    assert first.usage is not None and first.usage.prompt_tokens == 20
    assert (second.position, second.thought, second.tool, second.tool_input) == (
        2,
        "It is 21:30 in Tokyo.",
        "",
        "",
    )
    assert second.observation == "" and second.tool_labels == {} and second.invocations == ()

    finished = events[-1]
    assert isinstance(finished, AgentFinished)
    assert finished.answer == "Let me check. It is 21:30 in Tokyo."
    assert finished.answer == "".join(e.text for e in events if isinstance(e, AgentAnswer))
    assert finished.model_calls == 2
    assert (finished.usage.prompt_tokens, finished.usage.completion_tokens) == (50, 12)
    assert finished.usage.total_tokens == 62 and not finished.usage.estimated
    assert [m.role for m in finished.messages] == [
        "system",
        "user",
        "assistant",
        "tool",
        "assistant",
    ]

    # What the model was sent: tools both times, then the call and its result.
    (_, body1, _), (path2, body2, _) = upstream.received
    assert path2 == "/v1/chat/completions"
    for body in (body1, body2):
        assert [t["function"]["name"] for t in body["tools"]] == ["current_time", "eval_expression"]
        assert (
            body["model"] == "tiny" and body["temperature"] == 0.2 and body["user"] == "end-user-1"
        )
    assert "tool_choice" not in body1
    assert body2["messages"][:2] == [
        {"role": "system", "content": "You are helpful."},
        {"role": "user", "content": "What time is it in Tokyo?"},
    ]
    assert body2["messages"][2] == {
        "role": "assistant",
        "content": "Let me check. ",
        "tool_calls": [
            {
                "id": "call_1",
                "type": "function",
                "function": {"name": "current_time", "arguments": '{"timezone": "Asia/Tokyo"}'},
            }
        ],
    }
    assert body2["messages"][3] == {
        "role": "tool",
        "content": "2026-01-15 21:30:05 JST",
        "tool_call_id": "call_1",
    }


class Broken(Tool):
    identity = ToolIdentity(provider="test", name="broken", label={"en_US": "Broken"})
    description = "Always fails."
    parameters: dict[str, Any] = {"type": "object"}  # noqa: RUF012

    async def run(self, arguments: Any) -> ToolResult:
        raise RuntimeError("the tool's own bug")


async def test_failing_calls_become_results_and_the_loop_goes_on(
    upstream: ScriptedServer, http_client: httpx.AsyncClient
) -> None:
    upstream.queue(
        tool_turn(
            call(0, id="a", name="no_such_tool", arguments="{}"),
            call(1, id="b", name="eval_expression", arguments='{"expression": "1/0"'),
            call(2, id="c", name="broken", arguments="{}"),
            call(3, id="d", name="current_time", arguments='{"timezone": "Mars/Base"}'),
            call(4, name="eval_expression", arguments='{"expression": "6*7"}'),
        ),
        answer_turn("Done."),
    )
    events = await collect(
        run_agent(model(upstream, http_client), QUESTION, [*tools(), Broken()], model_name="m")
    )
    thought = next(e for e in events if isinstance(e, AgentThought))
    results = [(i.name, i.result.is_error, i.result.text) for i in thought.invocations]
    assert results == [
        ("no_such_tool", True, "There is no tool named no_such_tool."),
        ("eval_expression", True, "The arguments of eval_expression are not a JSON object."),
        ("broken", True, "broken failed: RuntimeError: the tool's own bug"),
        ("current_time", True, "Invalid timezone: Mars/Base"),
        ("eval_expression", False, "42"),
    ]
    assert thought.tool == "no_such_tool;eval_expression;broken;current_time;eval_expression"
    assert thought.tool_labels["no_such_tool"] == {
        "en_US": "no_such_tool",
        "zh_Hans": "no_such_tool",
    }
    # A call without an id gets one, so its result can be matched.
    assert thought.invocations[4].call_id == "call_1_4"
    sent = upstream.received[1][1]["messages"]
    tool_messages = [m for m in sent if m["role"] == "tool"]
    assert [m["tool_call_id"] for m in tool_messages] == ["a", "b", "c", "d", "call_1_4"]
    assert tool_messages[4]["content"] == "42"
    finished = events[-1]
    assert isinstance(finished, AgentFinished) and finished.answer == "Done."


async def test_max_iterations_ends_with_a_call_without_tools(
    upstream: ScriptedServer, http_client: httpx.AsyncClient
) -> None:
    upstream.queue(
        tool_turn(call(0, id="1", name="eval_expression", arguments='{"expression": "1+1"}')),
        tool_turn(call(0, id="2", name="eval_expression", arguments='{"expression": "2+2"}')),
        answer_turn("4, finally."),
    )
    events = await collect(
        run_agent(
            model(upstream, http_client),
            QUESTION,
            tools(),
            model_name="m",
            max_iterations=2,
            tool_choice=NamedToolChoice(name="eval_expression"),
        )
    )
    bodies = [body for _, body, _ in upstream.received]
    assert len(bodies) == 3
    assert bodies[0]["tool_choice"] == {"type": "function", "function": {"name": "eval_expression"}}
    assert "tool_choice" not in bodies[1] and "tools" in bodies[1]
    assert "tools" not in bodies[2] and "tool_choice" not in bodies[2]
    thoughts = [e for e in events if isinstance(e, AgentThought)]
    assert [(t.position, t.tool) for t in thoughts] == [
        (1, "eval_expression"),
        (2, "eval_expression"),
        (3, ""),
    ]
    finished = events[-1]
    assert isinstance(finished, AgentFinished)
    assert finished.model_calls == 3
    assert finished.usage.prompt_tokens == 20 + 20 + 30


def slow_answer(pause: float) -> Any:
    """The first word at once, the rest after ``pause`` seconds."""

    def handler(body: dict[str, Any], request: Request) -> Response:
        async def frames() -> Any:
            yield f"data: {json.dumps(chunk('Hello'))}\n\n".encode()
            await asyncio.sleep(pause)
            for frame in (chunk(" there"), chunk(finish="stop"), usage(3, 2)):
                yield f"data: {json.dumps(frame)}\n\n".encode()
            yield b"data: [DONE]\n\n"

        return StreamingResponse(frames(), media_type="text/event-stream")

    return handler


async def test_answer_text_is_passed_on_before_the_turn_ends(
    upstream: ScriptedServer, http_client: httpx.AsyncClient
) -> None:
    upstream.queue(slow_answer(1.0))
    started = time.monotonic()
    stream = run_agent(model(upstream, http_client), QUESTION, tools(), model_name="m")
    first = await anext(stream)
    assert isinstance(first, AgentAnswer) and first.text == "Hello"
    assert time.monotonic() - started < 0.8
    rest = [event async for event in stream]
    assert isinstance(rest[-1], AgentFinished) and rest[-1].answer == "Hello there"


async def test_model_failure_after_a_tool_turn_escapes(
    upstream: ScriptedServer, http_client: httpx.AsyncClient
) -> None:
    upstream.queue(
        tool_turn(call(0, id="1", name="current_time", arguments="{}")),
        error(400, "context too long", param="messages"),
    )
    seen: list[AgentEvent] = []
    with pytest.raises(ModelRuntimeError, match="context too long"):
        async for event in run_agent(model(upstream, http_client), QUESTION, tools()):
            seen.append(event)
    assert [type(e).__name__ for e in seen] == ["AgentThought"]


async def test_two_tools_with_one_name_are_refused() -> None:
    with pytest.raises(InvalidParam, match="current_time"):
        await collect(
            run_agent(Bound(compatible), QUESTION, [CurrentTimeTool(), CurrentTimeTool()])
        )
