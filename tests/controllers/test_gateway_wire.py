"""OpenAI's wire format as the gateway and serve-local read and write it (no server needed)."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncGenerator
from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError

from ore.controllers.openai_wire import (
    ChatCompletionBody,
    chat_events,
    completion_json,
    embeddings_json,
    started,
)
from ore.core.errors import InvalidParam
from ore.core.model_runtime.entities import (
    ChatChunk,
    ChatMessage,
    ChatResult,
    ImagePart,
    NamedToolChoice,
    TextPart,
    ToolCall,
    ToolCallDelta,
    Usage,
)
from ore.core.model_runtime.errors import CompletionRequestError


def body(**fields: Any) -> ChatCompletionBody:
    return ChatCompletionBody.model_validate(
        {"model": "p/m", "messages": [{"role": "user", "content": "hi"}], **fields}
    )


def test_a_full_request_becomes_the_runtimes_request() -> None:
    request = body(
        messages=[
            {"role": "developer", "content": "Be brief."},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is this?"},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,AA"}},
                ],
            },
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
                ],
            },
            {"role": "tool", "tool_call_id": "c1", "content": "42"},
        ],
        tools=[{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
        tool_choice={"type": "function", "function": {"name": "f"}},
        response_format={"type": "json_schema", "json_schema": {"name": "r", "schema": {"a": 1}}},
        temperature=0.2,
        max_tokens=5,
        max_completion_tokens=7,
        stop="END",
        seed=3,
        user="u1",
        logprobs=True,  # not honoured: ignored, not refused
    ).to_runtime("m")

    assert request.model == "m"
    system, user, assistant, tool = request.messages
    assert (system.role, system.content) == ("system", "Be brief.")
    assert user.content == [
        TextPart(text="What is this?"),
        ImagePart(url="data:image/png;base64,AA"),
    ]
    assert assistant.tool_calls == [ToolCall(id="c1", name="f", arguments="{}")]
    assert (tool.role, tool.tool_call_id, tool.content) == ("tool", "c1", "42")
    assert [t.name for t in request.tools] == ["f"]
    assert request.tool_choice == NamedToolChoice(name="f")
    assert request.response_format is not None
    assert request.response_format.json_schema == {"a": 1}
    assert request.response_format.schema_name == "r"
    # max_completion_tokens wins over the older max_tokens; unset parameters stay unset.
    assert request.parameters == {"temperature": 0.2, "max_tokens": 7, "stop": ["END"], "seed": 3}
    assert request.user == "u1"


@pytest.mark.parametrize(
    ("fields", "where"),
    [
        ({"temperature": 2.5}, "temperature"),
        ({"n": 3}, "n"),
        ({"stop": ["a", "b", "c", "d", "e"]}, "stop"),
        ({"messages": [{"role": "user", "content": [{"type": "input_audio"}]}]}, "messages"),
        ({"tools": [{"type": "retrieval"}]}, "tools"),
        ({"response_format": {"type": "yaml"}}, "response_format"),
    ],
)
def test_malformed_requests_are_refused_naming_the_field(
    fields: dict[str, Any], where: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        body(**fields)
    assert caught.value.errors()[0]["loc"][0] == where


def test_a_blocking_answer_with_tool_calls() -> None:
    result = ChatResult(
        model="m",
        message=ChatMessage(
            role="assistant", tool_calls=[ToolCall(id="c1", name="f", arguments='{"x":1}')]
        ),
        finish_reason="tool_calls",
        usage=Usage(prompt_tokens=3, completion_tokens=2),
    )
    answer = completion_json(result, "p/m")
    [choice] = answer["choices"]
    assert answer["model"] == "p/m" and answer["object"] == "chat.completion"
    assert choice["message"]["content"] is None
    assert choice["message"]["tool_calls"][0]["function"] == {"name": "f", "arguments": '{"x":1}'}
    assert answer["usage"] == {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}


async def frames_of(chunks: AsyncGenerator[ChatChunk, None], include_usage: bool) -> list[Any]:
    frames = [f async for f in chat_events(chunks, "p/m", include_usage=include_usage)]
    assert all(f.startswith("data: ") and f.endswith("\n\n") for f in frames)
    return [f[6:-2] if f == "data: [DONE]\n\n" else json.loads(f[6:-2]) for f in frames]


async def stream_of(*chunks: ChatChunk, fail: Exception | None = None) -> Any:
    for chunk in chunks:
        yield chunk
    if fail is not None:
        raise fail


async def test_stream_frames_and_usage_only_when_asked() -> None:
    pieces = (
        ChatChunk(content="Hel"),
        ChatChunk(tool_calls=[ToolCallDelta(index=0, id="c1", name="f", arguments="{")]),
        ChatChunk(tool_calls=[ToolCallDelta(index=0, arguments="}")], finish_reason="tool_calls"),
        ChatChunk(usage=Usage(prompt_tokens=4, completion_tokens=3)),
    )
    asked = await frames_of(stream_of(*pieces), include_usage=True)
    assert asked[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert asked[1]["choices"][0]["delta"] == {"content": "Hel"}
    assert asked[2]["choices"][0]["delta"]["tool_calls"] == [
        {"index": 0, "id": "c1", "type": "function", "function": {"name": "f", "arguments": "{"}}
    ]
    assert asked[3]["choices"][0]["delta"]["tool_calls"] == [
        {"index": 0, "function": {"arguments": "}"}}
    ]
    assert asked[3]["choices"][0]["finish_reason"] == "tool_calls"
    assert asked[4]["choices"] == [] and asked[4]["usage"]["total_tokens"] == 7
    assert asked[5] == "[DONE]"
    assert len({f["id"] for f in asked[:-1]}) == 1

    quiet = await frames_of(stream_of(*pieces), include_usage=False)
    assert len(quiet) == 5 and all("usage" not in f for f in quiet[:-1])


async def test_a_failure_midway_is_the_last_event_before_done() -> None:
    failing = stream_of(ChatChunk(content="Hel"), fail=CompletionRequestError("cut"))
    frames = await frames_of(failing, include_usage=True)
    assert frames[1]["choices"][0]["delta"] == {"content": "Hel"}
    assert frames[2] == {
        "error": {
            "message": "cut",
            "type": "invalid_request_error",
            "param": None,
            "code": "completion_request_error",
        }
    }
    assert frames[3] == "[DONE]"

    unexpected = await frames_of(stream_of(fail=RuntimeError("boom")), include_usage=False)
    assert unexpected[1]["error"]["type"] == "api_error"
    assert "boom" not in json.dumps(unexpected)  # no internals leak to the client


async def test_started_raises_before_the_first_item_and_replays_it_after() -> None:
    with pytest.raises(InvalidParam):
        await started(stream_of(fail=InvalidParam("bad")))
    replay = await started(stream_of(ChatChunk(content="a"), ChatChunk(content="b")))
    assert [c.content async for c in replay] == ["a", "b"]
    assert [c async for c in await started(stream_of())] == []


def test_embeddings_as_floats_and_as_little_endian_base64() -> None:
    vectors = [[0.5, -1.25], [1.0, 0.0]]
    floats = embeddings_json(vectors, "p/e", 6, "float")
    assert [d["embedding"] for d in floats["data"]] == vectors
    assert floats["usage"] == {"prompt_tokens": 6, "total_tokens": 6}
    packed = embeddings_json(np.array(vectors, dtype=np.float32), "p/e", 6, "base64")
    raw = base64.b64decode(packed["data"][0]["embedding"])
    assert np.frombuffer(raw, dtype="<f4").tolist() == [0.5, -1.25]
    assert [d["index"] for d in packed["data"]] == [0, 1]
