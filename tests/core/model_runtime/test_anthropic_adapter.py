"""The Anthropic adapter against a scripted Messages streaming server on loopback."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from ore.core.model_runtime.entities import ChatMessage, ChatRequest, ToolCall, ToolDefinition
from ore.core.model_runtime.errors import (
    CompletionRequestError,
    CredentialsInvalid,
    InvalidModelParameter,
    RateLimited,
)
from ore.core.model_runtime.retry import CallPolicy
from ore.core.model_runtime.vendors.anthropic import provider as anthropic_provider
from tests.upstreams import ScriptedServer, sse

MODEL = "claude-haiku-4-5-20251001"


def event(kind: str, **data: Any) -> str:
    return f"event: {kind}\ndata: {json.dumps({'type': kind, **data})}\n\n"


def message_start(input_tokens: int = 12) -> str:
    message = {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": MODEL,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {"input_tokens": input_tokens, "output_tokens": 1},
    }
    return event("message_start", message=message)


def text_block(index: int, *pieces: str) -> list[str]:
    start = event("content_block_start", index=index, content_block={"type": "text", "text": ""})
    deltas = [
        event("content_block_delta", index=index, delta={"type": "text_delta", "text": p})
        for p in pieces
    ]
    return [start, *deltas, event("content_block_stop", index=index)]


def tool_block(index: int, tool_id: str, name: str, *json_pieces: str) -> list[str]:
    block = {"type": "tool_use", "id": tool_id, "name": name, "input": {}}
    start = event("content_block_start", index=index, content_block=block)
    deltas = [
        event(
            "content_block_delta",
            index=index,
            delta={"type": "input_json_delta", "partial_json": p},
        )
        for p in json_pieces
    ]
    return [start, *deltas, event("content_block_stop", index=index)]


def finish(stop_reason: str, output_tokens: int) -> list[str]:
    return [
        event(
            "message_delta",
            delta={"stop_reason": stop_reason, "stop_sequence": None},
            usage={"output_tokens": output_tokens},
        ),
        event("message_stop"),
    ]


def creds(upstream: ScriptedServer, key: str = "sk-ant-test") -> dict[str, str]:
    return {"anthropic_api_key": key, "anthropic_api_url": upstream.url}


def request(**parameters: Any) -> ChatRequest:
    return ChatRequest(
        model=MODEL,
        messages=[
            ChatMessage(role="system", content="Be brief."),
            ChatMessage(role="user", content="Weather in Paris?"),
        ],
        parameters=parameters,
    )


async def test_streams_text_with_usage(
    upstream: ScriptedServer, http_client: httpx.AsyncClient
) -> None:
    upstream.queue(sse([message_start(12), *text_block(0, "Sun", "ny."), *finish("end_turn", 4)]))
    chunks = [
        c
        async for c in anthropic_provider.stream_chat(
            request(max_tokens=100, stop=["\n\n"]), creds(upstream), http_client=http_client
        )
    ]
    assert "".join(c.content for c in chunks) == "Sunny."
    usage = chunks[-1].usage
    assert usage is not None and not usage.estimated
    assert (usage.prompt_tokens, usage.completion_tokens) == (12, 4)
    assert usage.total_price == "0.000032"  # 12 * 1.00 + 4 * 5.00 per 1M
    path, body, headers = upstream.received[0]
    assert path == "/v1/messages"
    assert body["system"] == "Be brief."
    assert body["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "Weather in Paris?"}]}
    ]
    assert body["max_tokens"] == 100 and body["stop_sequences"] == ["\n\n"]
    assert headers["x-api-key"] == "sk-ant-test"


async def test_streams_tool_use(upstream: ScriptedServer, http_client: httpx.AsyncClient) -> None:
    upstream.queue(
        sse(
            [
                message_start(),
                *text_block(0, "Checking."),
                *tool_block(1, "toolu_1", "weather", '{"city"', ': "Paris"}'),
                *finish("tool_use", 9),
            ]
        )
    )
    req = request()
    req.tools = [ToolDefinition(name="weather", parameters={"type": "object"})]
    req.tool_choice = "required"
    result = await anthropic_provider.chat(req, creds(upstream), http_client=http_client)
    assert result.finish_reason == "tool_calls"
    assert result.message.content == "Checking."
    assert result.message.tool_calls == [
        ToolCall(id="toolu_1", name="weather", arguments='{"city": "Paris"}')
    ]
    body = upstream.received[0][1]
    assert body["tools"][0]["input_schema"] == {"type": "object"}
    assert body["tool_choice"] == {"type": "any"}
    assert body["max_tokens"] == 64000


async def test_tool_results_go_back_as_user_blocks(
    upstream: ScriptedServer, http_client: httpx.AsyncClient
) -> None:
    upstream.queue(sse([message_start(), *text_block(0, "Sunny."), *finish("end_turn", 2)]))
    req = request()
    req.messages += [
        ChatMessage(
            role="assistant",
            tool_calls=[ToolCall(id="toolu_1", name="weather", arguments='{"city": "Paris"}')],
        ),
        ChatMessage(role="tool", tool_call_id="toolu_1", content="22C"),
    ]
    await anthropic_provider.chat(req, creds(upstream), http_client=http_client)
    sent = upstream.received[0][1]["messages"]
    assert sent[1]["content"] == [
        {"type": "tool_use", "id": "toolu_1", "name": "weather", "input": {"city": "Paris"}}
    ]
    assert sent[2] == {
        "role": "user",
        "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "22C"}],
    }


def anthropic_error(status: int, kind: str, message: str) -> Any:
    from starlette.responses import JSONResponse

    def handler(body: dict[str, Any], req: Any) -> Any:
        payload = {"type": "error", "error": {"type": kind, "message": message}}
        return JSONResponse(payload, status_code=status)

    return handler


async def test_rate_limit_and_overload(
    upstream: ScriptedServer, http_client: httpx.AsyncClient, fast_policy: CallPolicy
) -> None:
    upstream.queue(*[anthropic_error(429, "rate_limit_error", "Too many") for _ in range(3)])
    with pytest.raises(RateLimited, match="Too many"):
        await anthropic_provider.chat(
            request(), creds(upstream), http_client=http_client, policy=fast_policy
        )
    upstream.queue(*[anthropic_error(529, "overloaded_error", "Overloaded") for _ in range(3)])
    with pytest.raises(CompletionRequestError, match="Overloaded"):
        await anthropic_provider.chat(
            request(), creds(upstream), http_client=http_client, policy=fast_policy
        )


async def test_cut_stream(upstream: ScriptedServer, http_client: httpx.AsyncClient) -> None:
    upstream.queue(sse([message_start(), *text_block(0, "Sun")]))
    with pytest.raises(CompletionRequestError, match="ended early"):
        await anthropic_provider.chat(request(), creds(upstream), http_client=http_client)


async def test_error_event_mid_stream(
    upstream: ScriptedServer, http_client: httpx.AsyncClient
) -> None:
    bad = event("error", error={"type": "overloaded_error", "message": "Overloaded"})
    upstream.queue(sse([message_start(), *text_block(0, "Sun"), bad]))
    with pytest.raises(CompletionRequestError, match="Overloaded"):
        await anthropic_provider.chat(request(), creds(upstream), http_client=http_client)


async def test_invalid_key(upstream: ScriptedServer, http_client: httpx.AsyncClient) -> None:
    upstream.queue(anthropic_error(401, "authentication_error", "invalid x-api-key"))
    with pytest.raises(CredentialsInvalid, match="invalid x-api-key") as caught:
        await anthropic_provider.validate_credentials(creds(upstream), http_client=http_client)
    assert caught.value.code == "invalid_param"


async def test_temperature_above_anthropic_range_rejected(upstream: ScriptedServer) -> None:
    with pytest.raises(InvalidModelParameter) as caught:
        anthropic_provider.stream_chat(request(temperature=1.5), creds(upstream))
    assert caught.value.parameter == "temperature"
    assert upstream.received == []
