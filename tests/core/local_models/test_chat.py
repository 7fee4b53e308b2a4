"""The local chat engine on the real SmolLM2 model: answers, streams, queues, grammars."""

from __future__ import annotations

import json
from collections.abc import Iterator

import anyio
import pytest

from ore.core.local_models import ChatDelta, ChatFinish, ChatRequest, LocalChatEngine
from ore.core.local_models.chat import LocalChatError, output_schema

pytest.importorskip("llama_cpp")


@pytest.fixture(scope="module")
def engine() -> Iterator[LocalChatEngine]:
    yield LocalChatEngine()


def ask(text: str, **options: object) -> ChatRequest:
    return ChatRequest([{"role": "user", "content": text}], **options)  # type: ignore[arg-type]


async def test_answers_with_usage(engine: LocalChatEngine) -> None:
    result = await engine.complete(ask("Say hello.", max_tokens=8, temperature=0))
    assert result.text.strip()
    assert result.finish_reason in ("stop", "length")
    assert result.usage.prompt_tokens > 5
    assert 0 < result.usage.completion_tokens <= 8


async def test_stream_yields_tokens_then_one_finish(engine: LocalChatEngine) -> None:
    events = [e async for e in engine.stream(ask("Name three colours.", max_tokens=12))]
    deltas = [e for e in events if isinstance(e, ChatDelta)]
    assert len(deltas) >= 2
    assert isinstance(events[-1], ChatFinish)
    assert events[-1].text == "".join(d.text for d in deltas)
    assert sum(isinstance(e, ChatFinish) for e in events) == 1


async def test_concurrent_requests_all_complete(engine: LocalChatEngine) -> None:
    results: dict[int, ChatFinish] = {}

    async def one(i: int) -> None:
        results[i] = await engine.complete(ask(f"Count to {i + 2}.", max_tokens=6))

    async with anyio.create_task_group() as group:
        for i in range(5):
            group.start_soon(one, i)
    assert sorted(results) == list(range(5))
    assert all(r.usage.completion_tokens > 0 for r in results.values())


async def test_abandoned_stream_does_not_block_the_queue(engine: LocalChatEngine) -> None:
    async for _ in engine.stream(ask("Tell me a long story.", max_tokens=200)):
        break  # the caller leaves after the first token
    result = await engine.complete(ask("Hi", max_tokens=4))
    assert result.usage.completion_tokens > 0


async def test_json_schema_is_forced(engine: LocalChatEngine) -> None:
    schema = {
        "type": "object",
        "properties": {
            "city": {"type": "string", "maxLength": 20},
            "sunny": {"type": "boolean"},
        },
        "required": ["city", "sunny"],
    }
    fmt = {"type": "json_schema", "json_schema": {"name": "weather", "schema": schema}}
    result = await engine.complete(
        ask("Weather in Paris as JSON.", max_tokens=48, response_format=fmt)
    )
    data = json.loads(result.text)
    assert set(data) == {"city", "sunny"}
    assert isinstance(data["city"], str)
    assert isinstance(data["sunny"], bool)


async def test_json_object_is_forced(engine: LocalChatEngine) -> None:
    fmt = {"type": "json_object"}
    result = await engine.complete(ask("Describe a cat.", max_tokens=64, response_format=fmt))
    if result.finish_reason == "stop":
        assert isinstance(json.loads(result.text), dict)
    else:
        assert result.text.lstrip().startswith("{")


WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string", "maxLength": 30}},
            "required": ["city"],
        },
    },
}
TIME_TOOL = {
    "type": "function",
    "function": {"name": "get_time", "parameters": {"type": "object", "properties": {}}},
}


async def test_required_tool_call_is_forced(engine: LocalChatEngine) -> None:
    request = ask(
        "What is the weather in Rome?", max_tokens=64, tools=[WEATHER_TOOL], tool_choice="required"
    )
    result = await engine.complete(request)
    assert result.finish_reason == "tool_calls"
    (call,) = result.tool_calls
    assert call.name == "get_weather"
    assert isinstance(json.loads(call.arguments)["city"], str)
    assert call.id.startswith("call_")


async def test_named_tool_choice_picks_that_tool(engine: LocalChatEngine) -> None:
    choice = {"type": "function", "function": {"name": "get_time"}}
    request = ask(
        "Weather in Rome?", max_tokens=48, tools=[WEATHER_TOOL, TIME_TOOL], tool_choice=choice
    )
    result = await engine.complete(request)
    assert [c.name for c in result.tool_calls] == ["get_time"]
    assert isinstance(json.loads(result.tool_calls[0].arguments), dict)


async def test_auto_tool_choice_answers_freely(engine: LocalChatEngine) -> None:
    request = ask("Hello", max_tokens=6, tools=[WEATHER_TOOL], tool_choice="auto")
    result = await engine.complete(request)
    assert result.tool_calls == []


def test_unknown_named_tool_is_refused() -> None:
    choice = {"type": "function", "function": {"name": "nope"}}
    with pytest.raises(LocalChatError, match="nope"):
        from ore.core.local_models.chat import _forced_tools

        _forced_tools(ask("x", tools=[WEATHER_TOOL], tool_choice=choice))


def test_free_text_has_no_schema() -> None:
    assert output_schema(ask("x"), []) is None


async def test_prompt_longer_than_context_is_refused(engine: LocalChatEngine) -> None:
    with pytest.raises(LocalChatError, match="context"):
        await engine.complete(ask("word " * 3000, max_tokens=4))
