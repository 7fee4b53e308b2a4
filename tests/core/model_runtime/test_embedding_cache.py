"""Embeddings through the content-hash cache: a text is sent upstream once per model."""

from __future__ import annotations

import httpx

from ore.core.kv import KV
from ore.core.model_runtime.embedding_cache import EmbeddingCache
from ore.core.model_runtime.entities import EmbeddingRequest, EmbeddingResult
from ore.core.model_runtime.vendors.openai import provider as openai_provider
from tests.upstreams import ScriptedServer, json_response

MODEL = "text-embedding-3-small"


def vectors(*rows: list[float]) -> dict[str, object]:
    data = [{"object": "embedding", "index": i, "embedding": row} for i, row in enumerate(rows)]
    usage = {"prompt_tokens": 3, "total_tokens": 3}
    return {"object": "list", "model": MODEL, "data": data, "usage": usage}


async def test_each_text_is_embedded_once(
    upstream: ScriptedServer, http_client: httpx.AsyncClient, kv: KV
) -> None:
    credentials = {"api_key": "sk", "base_url": upstream.url + "/v1"}

    async def embedder(texts: list[str]) -> EmbeddingResult:
        request = EmbeddingRequest(model=MODEL, texts=texts)
        return await openai_provider.embed(request, credentials, http_client=http_client)

    cache = EmbeddingCache(kv, f"openai:{MODEL}")
    upstream.queue(json_response(vectors([0.1, 0.2], [0.3, 0.4])))
    first = await cache.embed(MODEL, ["a", "b", "a"], embedder)
    assert first.embeddings == [[0.1, 0.2], [0.3, 0.4], [0.1, 0.2]]
    assert upstream.received[0][1]["input"] == ["a", "b"]
    assert first.usage.prompt_tokens == 3

    upstream.queue(json_response(vectors([0.5, 0.6])))
    second = await cache.embed(MODEL, ["b", "c", "a"], embedder)
    assert second.embeddings == [[0.3, 0.4], [0.5, 0.6], [0.1, 0.2]]
    assert upstream.received[1][1]["input"] == ["c"]

    third = await cache.embed(MODEL, ["c"], embedder)
    assert third.embeddings == [[0.5, 0.6]] and third.usage.prompt_tokens == 0
    assert len(upstream.received) == 2

    # Another model (namespace) does not see these vectors.
    other = EmbeddingCache(kv, "openai:text-embedding-3-large")
    upstream.queue(json_response(vectors([9.0, 9.0])))
    assert (await other.embed(MODEL, ["c"], embedder)).embeddings == [[9.0, 9.0]]
    assert len(upstream.received) == 3
