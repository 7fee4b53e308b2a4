"""The chat stream read over httpx: connection reuse, SSE framing, and error mapping that
matches the SDK's, checked against the scripted server on loopback."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import Response

from ore.core.model_runtime.entities import ChatMessage, ChatRequest, EmbeddingRequest
from ore.core.model_runtime.errors import (
    CompletionRequestError,
    ModelRuntimeError,
)
from ore.core.model_runtime.openai_compat import EventFramer
from ore.core.model_runtime.retry import CallPolicy
from ore.core.model_runtime.vendors.openai import provider as openai_provider
from tests.upstreams import Handler, ScriptedServer, chunk, error, hang, openai_stream, sse

NO_RETRY = CallPolicy(max_retries=0, first_chunk_timeout=5, chunk_timeout=5)


def creds(upstream: ScriptedServer) -> dict[str, str]:
    return {"api_key": "sk-test", "base_url": upstream.url + "/v1"}


def hello() -> ChatRequest:
    return ChatRequest(model="gpt-4o-mini", messages=[ChatMessage(role="user", content="hi")])


def from_port(ports: list[int], handler: Handler) -> Handler:
    """``handler``, noting the client port of the connection each request came on."""

    def remember(body: dict[str, Any], request: Request) -> Response:
        assert request.client is not None
        ports.append(request.client.port)
        return handler(body, request)

    return remember


TEXT = (
    chunk("Hel"),
    chunk("lo!"),
    chunk(finish="stop"),
    chunk(no_choices=True, usage={"prompt_tokens": 11, "completion_tokens": 3}),
)


async def test_consecutive_calls_share_one_connection(
    upstream: ScriptedServer, http_client: httpx.AsyncClient
) -> None:
    ports: list[int] = []
    upstream.queue(*[from_port(ports, openai_stream(*TEXT)) for _ in range(3)])
    for _ in range(2):
        result = await openai_provider.chat(
            hello(), creds(upstream), http_client=http_client, policy=NO_RETRY
        )
        assert result.message.content == "Hello!" and result.usage.prompt_tokens == 11
    stream = openai_provider.stream_chat(
        hello(), creds(upstream), http_client=http_client, policy=NO_RETRY
    )
    assert "".join([c.content async for c in stream]) == "Hello!"
    assert len(ports) == 3 and len(set(ports)) == 1, ports


async def test_an_upstream_that_keeps_the_body_open_after_done_does_not_delay_the_call(
    upstream: ScriptedServer, http_client: httpx.AsyncClient
) -> None:
    frames = [f"data: {json.dumps(c)}\n\n" for c in TEXT] + ["data: [DONE]\n\n"]
    upstream.queue(hang(10.0, after=frames))
    started = time.monotonic()
    result = await openai_provider.chat(
        hello(), creds(upstream), http_client=http_client, policy=NO_RETRY
    )
    assert result.message.content == "Hello!" and result.finish_reason == "stop"
    assert time.monotonic() - started < 3


async def test_role_only_and_unknown_finish_chunks(
    upstream: ScriptedServer, http_client: httpx.AsyncClient
) -> None:
    role = chunk()
    role["choices"][0]["delta"] = {"role": "assistant", "content": None}
    odd_finish = chunk("x", finish="eos")
    upstream.queue(openai_stream(role, odd_finish))
    stream = openai_provider.stream_chat(
        hello(), creds(upstream), http_client=http_client, policy=NO_RETRY
    )
    chunks = [c async for c in stream]
    assert [(c.content, c.finish_reason) for c in chunks[:-1]] == [("x", "stop")]
    assert chunks[-1].usage is not None and chunks[-1].usage.estimated


async def test_an_error_event_in_the_stream_is_a_completion_request_error(
    upstream: ScriptedServer, http_client: httpx.AsyncClient
) -> None:
    error_event = 'data: {"error": {"message": "model overloaded", "type": "server_error"}}\n\n'
    upstream.queue(sse([f"data: {json.dumps(chunk('Hel'))}\n\n", error_event]))
    stream = openai_provider.stream_chat(
        hello(), creds(upstream), http_client=http_client, policy=NO_RETRY
    )
    assert (await anext(stream)).content == "Hel"
    with pytest.raises(CompletionRequestError, match="model overloaded") as caught:
        await anext(stream)
    assert not caught.value.retryable and caught.value.status == 400


async def test_sse_comments_crlf_and_split_frames_are_read(
    upstream: ScriptedServer, http_client: httpx.AsyncClient
) -> None:
    whole = (
        ": keep-alive\r\n\r\n"
        f"data: {json.dumps(chunk('Hel'))}\r\n\r\n"
        f"event: message\ndata: {json.dumps(chunk('lo!', finish='stop'))}\n\n"
        "data: [DONE]\n\n"
    )
    pieces = [whole[i : i + 7] for i in range(0, len(whole), 7)]
    upstream.queue(sse(pieces))
    result = await openai_provider.chat(
        hello(), creds(upstream), http_client=http_client, policy=NO_RETRY
    )
    assert result.message.content == "Hello!" and result.finish_reason == "stop"


def test_event_framer_is_independent_of_how_bytes_arrive() -> None:
    body = (
        b": comment\r\n\r\n"
        b"data: one\r\n\r\n"
        b"data: two\ndata: lines\n\n"
        b"id: 7\ndata:three\r\r"
        b"retry: 10\n\n"
        b"data: \xc3\xa9t\xc3\xa9\n\n"
        b"data: unterminated"
    )
    expected = ["one", "two\nlines", "three", "", "\u00e9t\u00e9"]
    assert EventFramer().feed(body) == expected
    for size in (1, 2, 3, 5, 8):
        framer = EventFramer()
        events: list[str] = []
        for start in range(0, len(body), size):
            events += framer.feed(body[start : start + size])
        assert events == expected, size


def text_response(status: int, text: str) -> Handler:
    def handler(body: dict[str, Any], request: Request) -> Response:
        return Response(text, status_code=status, media_type="text/plain")

    return handler


def json_error(status: int, payload: Any) -> Handler:
    def handler(body: dict[str, Any], request: Request) -> Response:
        return Response(json.dumps(payload), status_code=status, media_type="application/json")

    return handler


ERRORS: list[tuple[str, Any]] = [
    ("400 param", lambda: error(400, "bad value", "temperature")),
    ("400 context", lambda: error(400, "maximum context length is 8 tokens")),
    ("400 plain", lambda: error(400, "nope")),
    ("401", lambda: error(401, "Incorrect API key provided")),
    ("403", lambda: error(403, "forbidden region")),
    ("404", lambda: error(404, "no such model")),
    ("409", lambda: error(409, "conflict")),
    ("422", lambda: error(422, "unprocessable", "messages")),
    ("429", lambda: error(429, "slow down")),
    ("500", lambda: error(500, "upstream exploded")),
    ("503 flat", lambda: json_error(503, {"message": "flat message"})),
    ("502 text", lambda: text_response(502, "<html>Bad gateway</html>")),
    ("500 empty", lambda: text_response(500, "")),
    ("400 string error", lambda: json_error(400, {"error": "just a string"})),
    ("418 other json", lambda: json_error(418, {"detail": "teapot"})),
]


def described(exc: ModelRuntimeError) -> tuple[Any, ...]:
    return (
        type(exc),
        exc.message,
        exc.retryable,
        getattr(exc, "parameter", None),
        exc.body(),
    )


@pytest.mark.parametrize(("name", "make"), ERRORS, ids=[name for name, _ in ERRORS])
async def test_status_errors_map_as_the_sdk_maps_them(
    upstream: ScriptedServer, http_client: httpx.AsyncClient, name: str, make: Any
) -> None:
    """The chat stream reads errors itself; embeddings still go through the SDK. The same
    upstream answer must give the same error on both paths."""
    upstream.queue(make(), make())
    with pytest.raises(ModelRuntimeError) as chat_error:
        await openai_provider.chat(
            hello(), creds(upstream), http_client=http_client, policy=NO_RETRY
        )
    with pytest.raises(ModelRuntimeError) as sdk_error:
        await openai_provider.embed(
            EmbeddingRequest(model="text-embedding-3-small", texts=["a"]),
            creds(upstream),
            http_client=http_client,
            policy=NO_RETRY,
        )
    assert described(chat_error.value) == described(sdk_error.value)
    assert len(upstream.received) == 2


async def test_a_connection_failure_maps_as_the_sdk_maps_it(http_client: httpx.AsyncClient) -> None:
    from tests.processes import free_port

    closed = {"api_key": "k", "base_url": f"http://127.0.0.1:{free_port()}/v1"}
    with pytest.raises(ModelRuntimeError) as chat_error:
        await openai_provider.chat(hello(), closed, http_client=http_client, policy=NO_RETRY)
    with pytest.raises(ModelRuntimeError) as sdk_error:
        await openai_provider.embed(
            EmbeddingRequest(model="text-embedding-3-small", texts=["a"]),
            closed,
            http_client=http_client,
            policy=NO_RETRY,
        )
    assert described(chat_error.value) == described(sdk_error.value)
    assert chat_error.value.retryable
    assert chat_error.value.message.startswith("Could not reach the model provider")
