"""`ore models serve-local` as a real process, driven by the official openai SDK."""

from __future__ import annotations

import json

import httpx
import pytest
from openai import BadRequestError, OpenAI

from ore.core.local_models import CHAT_MODEL_NAME, EMBEDDING_MODEL_NAME, RERANK_MODEL_NAME

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def base_url(local_openai_url: str) -> str:
    return local_openai_url


@pytest.fixture
def client(base_url: str) -> OpenAI:
    return OpenAI(base_url=base_url, api_key="unused", max_retries=0)


def test_lists_the_local_models_in_the_catalogue_spelling(client: OpenAI) -> None:
    ids = [m.id for m in client.models.list()]
    # The ids of the `local` provider too, so `local/<id>` names the same model everywhere.
    assert ids == ["SmolLM2-135M-Instruct", "all-MiniLM-L6-v2", "all-MiniLM-L6-v2-rerank"]
    assert ids == [CHAT_MODEL_NAME, EMBEDDING_MODEL_NAME, RERANK_MODEL_NAME]


def test_blocking_chat(client: OpenAI) -> None:
    reply = client.chat.completions.create(
        model=CHAT_MODEL_NAME,
        messages=[{"role": "user", "content": "Say hi."}],
        max_tokens=8,
    )
    assert reply.choices[0].message.content
    assert reply.choices[0].finish_reason in ("stop", "length")
    assert reply.usage is not None
    assert reply.usage.total_tokens == reply.usage.prompt_tokens + reply.usage.completion_tokens
    assert reply.usage.completion_tokens > 0


def test_streaming_chat_with_usage(client: OpenAI) -> None:
    stream = client.chat.completions.create(
        model=CHAT_MODEL_NAME,
        messages=[{"role": "user", "content": "Name two fruits."}],
        max_tokens=10,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.strip()
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finishes[-1] in ("stop", "length")
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens > 0


def test_forced_tool_call_over_the_wire(client: OpenAI) -> None:
    tool = {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string", "maxLength": 30}},
                "required": ["city"],
            },
        },
    }
    reply = client.chat.completions.create(
        model=CHAT_MODEL_NAME,
        messages=[{"role": "user", "content": "Weather in Oslo?"}],
        max_tokens=48,
        tools=[tool],  # type: ignore[list-item]
        tool_choice="required",
    )
    calls = reply.choices[0].message.tool_calls
    assert reply.choices[0].finish_reason == "tool_calls"
    assert calls is not None
    assert calls[0].function.name == "get_weather"  # type: ignore[union-attr]
    assert "city" in json.loads(calls[0].function.arguments)  # type: ignore[union-attr]


def test_bad_parameter_is_a_400_in_openai_shape(client: OpenAI) -> None:
    with pytest.raises(BadRequestError) as caught:
        client.chat.completions.create(
            model=CHAT_MODEL_NAME,
            messages=[{"role": "user", "content": "x"}],
            temperature=5,
        )
    assert "temperature" in str(caught.value)


def test_embeddings_float_and_base64(client: OpenAI) -> None:
    texts = ["A cat sits on the mat.", "A kitten is on the rug.", "Interest rates rose."]
    default = client.embeddings.create(model=EMBEDDING_MODEL_NAME, input=texts)  # base64
    floats = client.embeddings.create(
        model=EMBEDDING_MODEL_NAME, input=texts, encoding_format="float"
    )
    assert [len(d.embedding) for d in floats.data] == [384, 384, 384]
    assert default.data[0].embedding == pytest.approx(floats.data[0].embedding, abs=1e-6)
    a, b, c = (d.embedding for d in floats.data)
    assert sum(x * y for x, y in zip(a, b, strict=True)) > sum(
        x * y for x, y in zip(a, c, strict=True)
    )
    assert floats.usage.prompt_tokens > 0


def test_rerank(base_url: str) -> None:
    body = {"query": "password reset", "documents": ["Cats purr.", "Reset your password here."]}
    results = httpx.post(f"{base_url}/rerank", json=body, timeout=30).json()["results"]
    assert results[0]["index"] == 1
