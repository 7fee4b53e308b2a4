"""The built-in ``local`` provider, loaded through the registry, on the real local models."""

from __future__ import annotations

import json

import pytest

from ore.core.model_runtime import (
    ChatMessage,
    ChatRequest,
    EmbeddingRequest,
    ModelAdapter,
    RerankRequest,
    assemble,
    build_registry,
)
from ore.core.model_runtime.entities import NamedToolChoice, ResponseFormat, ToolDefinition
from ore.core.model_runtime.errors import InvalidModelParameter, ModelNotFound

pytest.importorskip("llama_cpp")

CHAT = "SmolLM2-135M-Instruct"
EMBEDDING = "all-MiniLM-L6-v2"
RERANK = "all-MiniLM-L6-v2-rerank"


@pytest.fixture(scope="module")
def local() -> ModelAdapter:
    return build_registry().get("local")


def ask(text: str, tools: list[ToolDefinition] | None = None) -> ChatRequest:
    return ChatRequest(
        model=CHAT,
        messages=[ChatMessage(role="user", content=text)],
        parameters={"max_tokens": 8, "temperature": 0, "seed": 7},
        tools=tools or [],
    )


def test_registry_lists_local_and_its_three_models(local: ModelAdapter) -> None:
    descriptor = local.descriptor
    assert descriptor.provider == "local"
    assert descriptor.credential_form_schemas == []
    models = {(m.model, m.model_type) for m in descriptor.models}
    assert models == {(CHAT, "llm"), (EMBEDDING, "text-embedding"), (RERANK, "rerank")}
    chat = local.model_descriptor(CHAT)
    assert chat is not None and chat.context_size == 2048
    assert {"tool-call", "structured-output"} <= set(chat.features)
    assert all(m.pricing and m.pricing.input == "0" for m in descriptor.models)


async def test_credentials_are_not_needed(local: ModelAdapter) -> None:
    await local.validate_credentials({})
    result = await local.chat(ask("Hi"), None)
    assert result.usage.completion_tokens > 0


async def test_stream_yields_text_then_counted_usage(local: ModelAdapter) -> None:
    chunks = [c async for c in local.stream_chat(ask("Name three colours."), {})]
    text = "".join(c.content for c in chunks)
    assert text.strip()
    assert sum(bool(c.content) for c in chunks) >= 2
    usage = chunks[-1].usage
    assert usage is not None and not usage.estimated
    assert usage.prompt_tokens > 5 and 0 < usage.completion_tokens <= 8
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    assert usage.total_price == "0"
    assert chunks[-2].finish_reason in ("stop", "length")


async def test_blocking_chat_equals_the_assembled_stream(local: ModelAdapter) -> None:
    request = ask("Say hello to Ana.")
    streamed = assemble(CHAT, [c async for c in local.stream_chat(request, {})])
    blocking = await local.chat(request, {})
    assert blocking.message.content == streamed.message.content != ""
    assert blocking.finish_reason == streamed.finish_reason
    assert blocking.usage.prompt_tokens == streamed.usage.prompt_tokens
    assert blocking.usage.completion_tokens == streamed.usage.completion_tokens


async def test_forced_tool_call_comes_back_as_a_tool_call(local: ModelAdapter) -> None:
    tool = ToolDefinition(
        name="get_weather",
        description="The weather in a city",
        parameters={
            "type": "object",
            "properties": {"city": {"type": "string", "enum": ["Paris", "London"]}},
            "required": ["city"],
        },
    )
    request = ask("What is the weather in Paris?", tools=[tool])
    request.tool_choice = NamedToolChoice(name="get_weather")
    request.parameters["max_tokens"] = 64
    result = await local.chat(request, {})
    assert result.finish_reason == "tool_calls"
    assert result.message.content == ""
    [call] = result.message.tool_calls
    assert call.name == "get_weather" and call.id
    assert json.loads(call.arguments)["city"] in ("Paris", "London")


async def test_response_format_forces_json(local: ModelAdapter) -> None:
    schema = {
        "type": "object",
        "properties": {"ok": {"type": "boolean"}},
        "required": ["ok"],
    }
    request = ask("Is the sky blue? Answer in JSON.")
    request.response_format = ResponseFormat(type="json_schema", json_schema=schema)
    request.parameters["max_tokens"] = 32
    result = await local.chat(request, {})
    assert isinstance(json.loads(result.message.text())["ok"], bool)


async def test_unknown_model_and_parameters_are_refused(local: ModelAdapter) -> None:
    with pytest.raises(ModelNotFound):
        await local.chat(ask("Hi").model_copy(update={"model": "gpt-4o"}), {})
    with pytest.raises(InvalidModelParameter):
        await local.chat(ask("Hi").model_copy(update={"parameters": {"max_tokens": 5000}}), {})


async def test_embeddings_have_384_dimensions(local: ModelAdapter) -> None:
    texts = ["A man is eating food.", "How do I reset my password?"]
    result = await local.embed(EmbeddingRequest(model=EMBEDDING, texts=texts), {})
    assert [len(v) for v in result.embeddings] == [384, 384]
    assert result.usage.prompt_tokens > 4 and not result.usage.estimated
    with pytest.raises(InvalidModelParameter):
        await local.embed(EmbeddingRequest(model=EMBEDDING, texts=texts, dimensions=128), {})


async def test_rerank_puts_the_relevant_document_first(local: ModelAdapter) -> None:
    documents = [
        "Quarterly revenue grew by twelve percent.",
        "The girl is carrying a baby.",
        "Steps to change the password of my account",
    ]
    request = RerankRequest(model=RERANK, query="How do I reset my password?", documents=documents)
    result = await local.rerank(request, {})
    assert result.documents[0].index == 2
    assert result.documents[0].text == documents[2]
    scores = [d.score for d in result.documents]
    assert scores == sorted(scores, reverse=True) and len(scores) == 3
