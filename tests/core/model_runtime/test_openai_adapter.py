"""The OpenAI-compatible adapter against a scripted server on loopback."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from ore.core.http import AddressKind, AddressPolicy, OutboundHttpClient
from ore.core.model_runtime.entities import (
    ChatChunk,
    ChatMessage,
    ChatRequest,
    EmbeddingRequest,
    ToolDefinition,
    assemble,
)
from ore.core.model_runtime.errors import (
    CompletionRequestError,
    CredentialsInvalid,
    InvalidModelParameter,
    ProviderNotInitialized,
    RateLimited,
)
from ore.core.model_runtime.retry import CallPolicy
from ore.core.model_runtime.vendors._common import openai_vendor
from ore.core.model_runtime.vendors.openai import provider as openai_provider
from tests.upstreams import (
    ScriptedServer,
    chunk,
    error,
    hang,
    json_response,
    openai_stream,
    trickle,
)


def creds(upstream: ScriptedServer, key: str = "sk-test") -> dict[str, str]:
    return {"api_key": key, "base_url": upstream.url + "/v1"}


def hello(model: str = "gpt-4o-mini", **parameters: Any) -> ChatRequest:
    return ChatRequest(
        model=model,
        messages=[
            ChatMessage(role="system", content="Be brief."),
            ChatMessage(role="user", content="Say hello"),
        ],
        parameters=parameters,
    )


TEXT = (
    chunk("Hel"),
    chunk("lo!"),
    chunk(finish="stop"),
    chunk(no_choices=True, usage={"prompt_tokens": 11, "completion_tokens": 3}),
)


async def collect(stream: Any) -> list[ChatChunk]:
    return [c async for c in stream]


async def test_streams_text_with_reported_usage_and_prices(
    upstream: ScriptedServer, http_client: httpx.AsyncClient
) -> None:
    upstream.queue(openai_stream(*TEXT))
    chunks = await collect(
        openai_provider.stream_chat(
            hello(temperature=0.5), creds(upstream), http_client=http_client
        )
    )
    assert "".join(c.content for c in chunks) == "Hello!"
    usage = chunks[-1].usage
    assert usage is not None and not usage.estimated
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (11, 3, 14)
    # gpt-4o-mini: 0.15 / 0.60 USD per 1M tokens.
    assert usage.prompt_price == "0.0000017"
    assert usage.completion_price == "0.0000018"
    assert usage.total_price == "0.0000035"
    assert usage.currency == "USD"
    path, body, headers = upstream.received[0]
    assert path == "/v1/chat/completions"
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert body["temperature"] == 0.5
    assert headers["authorization"] == "Bearer sk-test"


async def test_blocking_equals_assembled_stream(
    upstream: ScriptedServer, http_client: httpx.AsyncClient
) -> None:
    upstream.queue(openai_stream(*TEXT), openai_stream(*TEXT))
    streamed = await collect(
        openai_provider.stream_chat(hello(), creds(upstream), http_client=http_client)
    )
    result = await openai_provider.chat(hello(), creds(upstream), http_client=http_client)
    expected = assemble("gpt-4o-mini", streamed)
    assert result.message == expected.message
    assert result.finish_reason == expected.finish_reason == "stop"
    assert result.message.content == "Hello!"
    assert result.usage.prompt_tokens == expected.usage.prompt_tokens == 11


async def test_streams_tool_calls_by_index(
    upstream: ScriptedServer, http_client: httpx.AsyncClient
) -> None:
    def call(index: int, **fields: Any) -> dict[str, Any]:
        function = {k: v for k, v in fields.items() if k in ("name", "arguments")}
        out: dict[str, Any] = {"index": index, "function": function}
        if "id" in fields:
            out["id"] = fields["id"]
            out["type"] = "function"
        return out

    upstream.queue(
        openai_stream(
            chunk(tool_calls=[call(0, id="call_a", name="weather", arguments="")]),
            chunk(tool_calls=[call(0, arguments='{"city":')]),
            chunk(tool_calls=[call(1, id="call_b", name="time", arguments="{}")]),
            chunk(tool_calls=[call(0, arguments=' "Paris"}')]),
            chunk(finish="tool_calls"),
        )
    )
    request = hello()
    request.tools = [ToolDefinition(name="weather"), ToolDefinition(name="time")]
    request.tool_choice = "auto"
    result = await openai_provider.chat(request, creds(upstream), http_client=http_client)
    assert result.finish_reason == "tool_calls"
    calls = [(c.id, c.name, c.arguments) for c in result.message.tool_calls]
    assert calls == [("call_a", "weather", '{"city": "Paris"}'), ("call_b", "time", "{}")]
    sent = upstream.received[0][1]
    assert [t["function"]["name"] for t in sent["tools"]] == ["weather", "time"]
    assert sent["tool_choice"] == "auto"
    # No usage reported: estimated locally.
    assert result.usage.estimated and result.usage.completion_tokens > 0


async def test_usage_estimated_when_not_reported(
    upstream: ScriptedServer, http_client: httpx.AsyncClient
) -> None:
    upstream.queue(openai_stream(chunk("Hello there friend"), chunk(finish="stop")))
    result = await openai_provider.chat(hello(), creds(upstream), http_client=http_client)
    assert result.usage.estimated
    assert result.usage.prompt_tokens > 0 and result.usage.completion_tokens == 5
    assert result.usage.total_tokens == result.usage.prompt_tokens + 5


async def test_retries_a_429_then_succeeds(
    upstream: ScriptedServer, http_client: httpx.AsyncClient, fast_policy: CallPolicy
) -> None:
    upstream.queue(error(429, "slow down"), openai_stream(*TEXT))
    result = await openai_provider.chat(
        hello(), creds(upstream), http_client=http_client, policy=fast_policy
    )
    assert result.message.content == "Hello!"
    assert len(upstream.received) == 2


async def test_429_exhausting_retries_is_rate_limit_error(
    upstream: ScriptedServer, http_client: httpx.AsyncClient, fast_policy: CallPolicy
) -> None:
    upstream.queue(*[error(429, "slow down") for _ in range(3)])
    with pytest.raises(RateLimited) as caught:
        await openai_provider.chat(
            hello(), creds(upstream), http_client=http_client, policy=fast_policy
        )
    assert caught.value.status == 429 and caught.value.code == "rate_limit_error"
    assert caught.value.message == "slow down"
    assert len(upstream.received) == 3


async def test_500_is_completion_request_error_with_message(
    upstream: ScriptedServer, http_client: httpx.AsyncClient, fast_policy: CallPolicy
) -> None:
    upstream.queue(*[error(500, "upstream exploded") for _ in range(3)])
    with pytest.raises(CompletionRequestError) as caught:
        await openai_provider.chat(
            hello(), creds(upstream), http_client=http_client, policy=fast_policy
        )
    assert caught.value.body() == {
        "code": "completion_request_error",
        "message": "upstream exploded",
        "status": 400,
    }


async def test_first_chunk_timeout(
    upstream: ScriptedServer, http_client: httpx.AsyncClient
) -> None:
    upstream.queue(hang(5.0))
    policy = CallPolicy(max_retries=0, first_chunk_timeout=0.3, chunk_timeout=0.3)
    with pytest.raises(CompletionRequestError, match="did not answer in time"):
        await openai_provider.chat(hello(), creds(upstream), http_client=http_client, policy=policy)


async def test_stall_after_first_chunk_times_out(
    upstream: ScriptedServer, http_client: httpx.AsyncClient
) -> None:
    first = "data: " + json.dumps(chunk("Hel")) + "\n\n"
    upstream.queue(hang(5.0, after=[first]))
    policy = CallPolicy(max_retries=0, first_chunk_timeout=2, chunk_timeout=0.3)
    stream = openai_provider.stream_chat(
        hello(), creds(upstream), http_client=http_client, policy=policy
    )
    assert (await anext(stream)).content == "Hel"
    with pytest.raises(CompletionRequestError, match="next chunk"):
        await anext(stream)


async def test_cut_stream_is_completion_request_error(
    upstream: ScriptedServer, http_client: httpx.AsyncClient
) -> None:
    upstream.queue(openai_stream(chunk("Hel"), done=False))
    with pytest.raises(CompletionRequestError, match="ended early"):
        await openai_provider.chat(hello(), creds(upstream), http_client=http_client)


async def test_malformed_chunk_is_completion_request_error(
    upstream: ScriptedServer, http_client: httpx.AsyncClient
) -> None:
    from tests.upstreams import sse

    upstream.queue(sse(["data: {not json\n\n", "data: [DONE]\n\n"]))
    with pytest.raises(CompletionRequestError) as caught:
        await openai_provider.chat(hello(), creds(upstream), http_client=http_client)
    assert caught.value.status == 400


@pytest.mark.parametrize(
    ("parameters", "name"),
    [
        ({"temperature": 3}, "temperature"),
        ({"bogus": 1}, "bogus"),
        ({"max_tokens": 1.5}, "max_tokens"),
    ],
)
async def test_bad_parameters_rejected_before_the_call(
    upstream: ScriptedServer, parameters: dict[str, Any], name: str
) -> None:
    with pytest.raises(InvalidModelParameter) as caught:
        openai_provider.stream_chat(hello(**parameters), creds(upstream))
    assert caught.value.parameter == name and name in caught.value.message
    assert caught.value.code == "invalid_param"
    assert upstream.received == []


async def test_upstream_parameter_error_names_the_parameter(
    upstream: ScriptedServer, http_client: httpx.AsyncClient
) -> None:
    upstream.queue(error(400, "This model's maximum context length is 8 tokens", "messages"))
    with pytest.raises(InvalidModelParameter) as caught:
        await openai_provider.chat(hello(), creds(upstream), http_client=http_client)
    assert caught.value.parameter == "messages"


async def test_no_credentials_is_provider_not_initialize(upstream: ScriptedServer) -> None:
    with pytest.raises(ProviderNotInitialized) as caught:
        openai_provider.stream_chat(hello(), {})
    assert caught.value.code == "provider_not_initialize" and caught.value.status == 400


async def test_credential_validation_failure_carries_provider_message(
    upstream: ScriptedServer, http_client: httpx.AsyncClient
) -> None:
    upstream.queue(error(401, "Incorrect API key provided: sk-bad"))
    with pytest.raises(CredentialsInvalid) as caught:
        await openai_provider.validate_credentials(
            creds(upstream, "sk-bad"), http_client=http_client
        )
    assert caught.value.body() == {
        "code": "invalid_param",
        "message": "Incorrect API key provided: sk-bad",
        "status": 400,
    }
    assert upstream.received[0][0] == "/v1/models"


async def test_credential_validation_success(
    upstream: ScriptedServer, http_client: httpx.AsyncClient
) -> None:
    upstream.queue(json_response({"object": "list", "data": []}))
    await openai_provider.validate_credentials(creds(upstream), http_client=http_client)


async def test_embeddings(upstream: ScriptedServer, http_client: httpx.AsyncClient) -> None:
    upstream.queue(
        json_response(
            {
                "object": "list",
                "model": "text-embedding-3-small",
                "data": [
                    {"object": "embedding", "index": 1, "embedding": [0.0, 1.0]},
                    {"object": "embedding", "index": 0, "embedding": [1.0, 0.0]},
                ],
                "usage": {"prompt_tokens": 4, "total_tokens": 4},
            }
        )
    )
    result = await openai_provider.embed(
        EmbeddingRequest(model="text-embedding-3-small", texts=["a", "b"]),
        creds(upstream),
        http_client=http_client,
    )
    assert result.embeddings == [[1.0, 0.0], [0.0, 1.0]]
    assert result.usage.prompt_tokens == 4 and not result.usage.estimated
    assert upstream.received[0][1]["input"] == ["a", "b"]


async def test_missing_api_key_is_provider_not_initialize(upstream: ScriptedServer) -> None:
    with pytest.raises(ProviderNotInitialized):
        openai_provider.stream_chat(hello(), {"base_url": upstream.url + "/v1"})
    with pytest.raises(CredentialsInvalid, match="API Key is required"):
        await openai_provider.validate_credentials({"base_url": upstream.url})
    assert upstream.received == []


async def test_through_the_guarded_provider_client(upstream: ScriptedServer) -> None:
    """ore passes the SDK its core/http client; loopback is admitted only when allowed."""
    allowed = OutboundHttpClient(AddressPolicy(allowed_kinds=frozenset({AddressKind.LOOPBACK})))
    refused = OutboundHttpClient(AddressPolicy())
    try:
        upstream.queue(openai_stream(*TEXT))
        result = await openai_provider.chat(
            hello(), creds(upstream), http_client=allowed.httpx_client
        )
        assert result.message.content == "Hello!"
        policy = CallPolicy(max_retries=0)
        with pytest.raises(CompletionRequestError, match="loopback"):
            await openai_provider.chat(
                hello(), creds(upstream), http_client=refused.httpx_client, policy=policy
            )
        assert len(upstream.received) == 1
    finally:
        await allowed.aclose()
        await refused.aclose()


async def test_leaving_a_stream_early_closes_it(
    upstream: ScriptedServer, http_client: httpx.AsyncClient
) -> None:
    upstream.queue(openai_stream(*TEXT), openai_stream(*TEXT))
    stream = openai_provider.stream_chat(hello(), creds(upstream), http_client=http_client)
    assert (await anext(stream)).content == "Hel"
    await stream.aclose()
    # The connection went back to the pool: the next call on the same client works.
    result = await openai_provider.chat(hello(), creds(upstream), http_client=http_client)
    assert result.message.content == "Hello!"


async def test_azure_deployment_and_api_version(
    upstream: ScriptedServer, http_client: httpx.AsyncClient
) -> None:
    from ore.core.model_runtime.entities import ImagePart, TextPart
    from ore.core.model_runtime.vendors.azure_openai import provider as azure

    upstream.queue(openai_stream(*TEXT))
    request = ChatRequest(
        model="my-gpt4o-deployment",
        messages=[
            ChatMessage(
                role="user",
                content=[TextPart(text="What is this?"), ImagePart(url="data:image/png;base64,AA")],
            )
        ],
    )
    credentials = {
        "openai_api_base": upstream.url,
        "api_key": "azure-key",
        "openai_api_version": "2024-10-21",
    }
    result = await azure.chat(request, credentials, http_client=http_client)
    assert result.message.content == "Hello!"
    path, body, headers = upstream.received[0]
    assert path == "/openai/deployments/my-gpt4o-deployment/chat/completions"
    assert headers["api-key"] == "azure-key"
    assert body["messages"][0]["content"][1] == {
        "type": "image_url",
        "image_url": {"url": "data:image/png;base64,AA", "detail": "auto"},
    }


async def test_overall_deadline_bounds_a_trickling_stream(
    upstream: ScriptedServer, http_client: httpx.AsyncClient
) -> None:
    frame = "data: " + json.dumps(chunk("x")) + "\n\n"
    upstream.queue(trickle(frame, every=0.1, count=100))
    policy = CallPolicy(max_retries=0, first_chunk_timeout=5, chunk_timeout=5, deadline=0.5)
    with pytest.raises(CompletionRequestError, match="overall deadline"):
        await openai_provider.chat(hello(), creds(upstream), http_client=http_client, policy=policy)


@pytest.mark.parametrize("url", ["http://[::1", "ftp://example.org/v1", "not a url"])
async def test_a_malformed_base_url_is_refused_as_invalid_credentials(url: str) -> None:
    adapter = openai_vendor("probe", "Probe", None, [], key_required=False)
    with pytest.raises(CredentialsInvalid, match="not a valid http"):
        await adapter.check_credentials({"base_url": url}, None)
    request = ChatRequest(model="m", messages=[ChatMessage(role="user", content="hi")])
    with pytest.raises(CredentialsInvalid, match="not a valid http"):
        await anext(adapter.stream_chat(request, {"base_url": url}))
