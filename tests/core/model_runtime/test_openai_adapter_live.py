"""The OpenAI-compatible adapter against a real server: `ore models serve-local` on loopback.

The adapter is the ``openai_api_compatible`` vendor, as a user would configure it for vLLM,
Ollama or LM Studio. Every request it sends goes through one httpx client that counts them,
so a test can also show that nothing was sent.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from ore.core.local_models import CHAT_MODEL_NAME, EMBEDDING_MODEL_NAME
from ore.core.model_runtime import ChatMessage, ChatRequest, EmbeddingRequest, ModelAdapter
from ore.core.model_runtime.entities import (
    ChatChunk,
    NamedToolChoice,
    ResponseFormat,
    ToolDefinition,
)
from ore.core.model_runtime.errors import CredentialsInvalid, InvalidModelParameter
from ore.core.model_runtime.vendors.openai_api_compatible import provider as compatible
from tests.processes import free_port

pytestmark = pytest.mark.slow

WEATHER = ToolDefinition(
    name="get_weather",
    description="Current weather of a city.",
    parameters={
        "type": "object",
        "properties": {"city": {"type": "string", "maxLength": 30}},
        "required": ["city"],
    },
)


class CountingClient:
    """An httpx client that records the path of every request it sends."""

    def __init__(self) -> None:
        self.paths: list[str] = []
        self.client = httpx.AsyncClient(event_hooks={"request": [self._record]})

    async def _record(self, request: httpx.Request) -> None:
        self.paths.append(request.url.path)


@pytest.fixture
async def counted() -> AsyncIterator[CountingClient]:
    counting = CountingClient()
    async with counting.client:
        yield counting


@pytest.fixture
def creds(local_openai_url: str) -> dict[str, str]:
    return {"api_key": "", "base_url": local_openai_url}


def ask(text: str, **fields: Any) -> ChatRequest:
    parameters = fields.pop("parameters", {"max_tokens": 12, "temperature": 0, "seed": 3})
    return ChatRequest(
        model=CHAT_MODEL_NAME,
        messages=[ChatMessage(role="user", content=text)],
        parameters=parameters,
        **fields,
    )


async def collect(stream: AsyncIterator[ChatChunk]) -> list[ChatChunk]:
    return [chunk async for chunk in stream]


def test_the_adapter_is_the_openai_compatible_vendor() -> None:
    assert isinstance(compatible, ModelAdapter)
    assert compatible.provider == "openai_api_compatible"


async def test_credentials_check_is_a_real_call(
    creds: dict[str, str], counted: CountingClient
) -> None:
    await compatible.validate_credentials(creds, http_client=counted.client)
    assert counted.paths == ["/v1/models"]


async def test_credentials_check_fails_on_a_closed_port(counted: CountingClient) -> None:
    dead = {"base_url": f"http://127.0.0.1:{free_port()}/v1"}
    with pytest.raises(CredentialsInvalid, match="Could not reach"):
        await compatible.validate_credentials(dead, http_client=counted.client)


async def test_streaming_chat_reports_usage(creds: dict[str, str], counted: CountingClient) -> None:
    chunks = await collect(
        compatible.stream_chat(ask("Name two fruits."), creds, http_client=counted.client)
    )
    assert "".join(c.content for c in chunks).strip()
    assert sum(1 for c in chunks if c.content) > 1  # it really streamed
    # Text, then the finish reason, then one closing chunk with the priced usage.
    assert [c.finish_reason for c in chunks if c.finish_reason] in (["stop"], ["length"])
    usage = chunks[-1].usage
    assert usage is not None
    # Reported by the server (llama.cpp's count), not estimated from the text.
    assert not usage.estimated
    assert usage.prompt_tokens > 0 and 0 < usage.completion_tokens <= 12
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    assert counted.paths == ["/v1/chat/completions"]


async def test_blocking_chat_is_the_stream_assembled(
    creds: dict[str, str], counted: CountingClient
) -> None:
    request = ask("Say hello to Oslo.", parameters={"max_tokens": 6, "temperature": 0, "seed": 5})
    streamed = await collect(compatible.stream_chat(request, creds, http_client=counted.client))
    result = await compatible.chat(request, creds, http_client=counted.client)
    # Greedy decoding: the same request gives the same tokens both ways.
    assert result.message.text() == "".join(c.content for c in streamed)
    assert result.message.text()
    assert result.finish_reason == "length"
    assert result.usage.completion_tokens == 6 and not result.usage.estimated
    assert result.model == CHAT_MODEL_NAME


async def test_forced_tool_call(creds: dict[str, str], counted: CountingClient) -> None:
    request = ask(
        "What is the weather in Oslo?",
        parameters={"max_tokens": 48, "temperature": 0},
        tools=[WEATHER],
        tool_choice=NamedToolChoice(name="get_weather"),
    )
    result = await compatible.chat(request, creds, http_client=counted.client)
    assert result.finish_reason == "tool_calls"
    (call,) = result.message.tool_calls
    assert call.name == "get_weather" and call.id
    arguments = json.loads(call.arguments)
    assert isinstance(arguments["city"], str)
    assert not result.usage.estimated


async def test_json_object_response_format(creds: dict[str, str], counted: CountingClient) -> None:
    request = ask(
        "Describe a cat as JSON with a name and an age.",
        parameters={"max_tokens": 60, "temperature": 0},
        response_format=ResponseFormat(type="json_object"),
    )
    result = await compatible.chat(request, creds, http_client=counted.client)
    parsed = json.loads(result.message.text())
    assert isinstance(parsed, dict)


async def test_embeddings_have_384_dimensions(
    creds: dict[str, str], counted: CountingClient
) -> None:
    texts = ["A cat sits on the mat.", "A kitten is on the rug.", "Interest rates rose."]
    result = await compatible.embed(
        EmbeddingRequest(model=EMBEDDING_MODEL_NAME, texts=texts),
        creds,
        http_client=counted.client,
    )
    assert [len(v) for v in result.embeddings] == [384, 384, 384]
    a, b, c = result.embeddings
    assert sum(x * y for x, y in zip(a, b, strict=True)) > sum(
        x * y for x, y in zip(a, c, strict=True)
    )
    assert result.usage.prompt_tokens > 0 and not result.usage.estimated
    assert counted.paths == ["/v1/embeddings"]


@pytest.mark.parametrize(
    "parameters",
    [{"temperature": 5}, {"temperature": "hot"}, {"max_tokens": 0}, {"top_p": 1.5}],
)
async def test_bad_parameters_are_refused_before_any_request(
    creds: dict[str, str], counted: CountingClient, parameters: dict[str, Any]
) -> None:
    with pytest.raises(InvalidModelParameter) as caught:
        await compatible.chat(ask("Hi", parameters=parameters), creds, http_client=counted.client)
    assert caught.value.status == 400
    assert next(iter(parameters)) in caught.value.message
    assert counted.paths == []
