"""Failover across credentials, with cooldowns kept in a KV."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from ore.core.kv import KV
from ore.core.kv.memory import MemoryKV
from ore.core.model_runtime.entities import ChatMessage, ChatRequest
from ore.core.model_runtime.errors import CredentialsInvalid, ProviderNotInitialized, RateLimited
from ore.core.model_runtime.pool import CredentialPool, PooledCredential
from ore.core.model_runtime.retry import CallPolicy
from ore.core.model_runtime.vendors.openai import provider as openai_provider
from tests.upstreams import ScriptedServer, chunk, error, openai_stream

NO_RETRY = CallPolicy(max_retries=0, first_chunk_timeout=2, chunk_timeout=2)


def request() -> ChatRequest:
    return ChatRequest(model="gpt-4o", messages=[ChatMessage(role="user", content="hi")])


def pool(upstream: ScriptedServer, kv: KV, *keys: str) -> CredentialPool:
    entries = [
        PooledCredential(id=key, credentials={"api_key": key, "base_url": upstream.url + "/v1"})
        for key in keys
    ]
    return CredentialPool(kv, "tenant-1:openai", entries, cooldown=60)


def keys_used(upstream: ScriptedServer) -> list[str]:
    return [headers["authorization"].removeprefix("Bearer ") for _, _, headers in upstream.received]


async def test_failover_after_429_and_cooldown(
    upstream: ScriptedServer, http_client: httpx.AsyncClient, kv: KV
) -> None:
    credentials = pool(upstream, kv, "key-a", "key-b")
    upstream.queue(error(429, "quota"), openai_stream(chunk("ok"), chunk(finish="stop")))
    result = await credentials.chat(
        openai_provider, request(), http_client=http_client, policy=NO_RETRY
    )
    assert result.message.content == "ok"
    assert keys_used(upstream) == ["key-a", "key-b"]
    assert await credentials.is_cooling("key-a")
    assert not await credentials.is_cooling("key-b")
    # While key-a cools down, every call goes to key-b, whatever the rotation says, also
    # from another pool on the same KV (another process, with Redis).
    other = pool(upstream, kv, "key-a", "key-b")
    upstream.queue(*[openai_stream(chunk("ok"), chunk(finish="stop")) for _ in range(2)])
    for each in (credentials, other):
        await each.chat(openai_provider, request(), http_client=http_client, policy=NO_RETRY)
    assert keys_used(upstream)[2:] == ["key-b", "key-b"]


async def test_round_robin(
    upstream: ScriptedServer, http_client: httpx.AsyncClient, kv: KV
) -> None:
    credentials = pool(upstream, kv, "key-a", "key-b")
    upstream.queue(*[openai_stream(chunk("ok"), chunk(finish="stop")) for _ in range(3)])
    for _ in range(3):
        await credentials.chat(openai_provider, request(), http_client=http_client)
    assert keys_used(upstream) == ["key-a", "key-b", "key-a"]


async def test_all_rate_limited(upstream: ScriptedServer, http_client: httpx.AsyncClient) -> None:
    credentials = pool(upstream, MemoryKV(), "key-a", "key-b")
    upstream.queue(error(429, "quota a"), error(429, "quota b"))
    with pytest.raises(RateLimited, match="quota b"):
        await credentials.chat(openai_provider, request(), http_client=http_client, policy=NO_RETRY)
    with pytest.raises(RateLimited, match="cooling down"):
        await credentials.chat(openai_provider, request(), http_client=http_client, policy=NO_RETRY)
    assert len(upstream.received) == 2


async def test_non_retryable_errors_do_not_fail_over(
    upstream: ScriptedServer, http_client: httpx.AsyncClient
) -> None:
    credentials = pool(upstream, MemoryKV(), "key-a", "key-b")
    upstream.queue(error(401, "bad key"))
    with pytest.raises(CredentialsInvalid, match="bad key"):
        await credentials.chat(openai_provider, request(), http_client=http_client, policy=NO_RETRY)
    assert not await credentials.is_cooling("key-a")


async def test_empty_pool_is_provider_not_initialize(upstream: ScriptedServer) -> None:
    with pytest.raises(ProviderNotInitialized):
        await pool(upstream, MemoryKV()).chat(openai_provider, request())


async def test_cooldown_expires(upstream: ScriptedServer, kv: KV) -> None:
    credentials = CredentialPool(
        kv, "tenant-2:openai", [PooledCredential("key-a", {"api_key": "a"})], cooldown=0.2
    )
    await credentials.cool_down("key-a")
    with pytest.raises(RateLimited):
        await credentials.candidates()
    await asyncio.sleep(0.5)
    assert [e.id for e in await credentials.candidates()] == ["key-a"]


async def test_weights_repeat_an_entry(kv: KV) -> None:
    entries = [PooledCredential("a", {"api_key": "a"}, weight=2), PooledCredential("b", {})]
    credentials = CredentialPool(kv, "tenant-3:openai", entries)
    firsts = [(await credentials.candidates())[0].id for _ in range(6)]
    assert firsts == ["a", "a", "b", "a", "a", "b"]


async def test_a_single_credential_skips_the_rotation_counter(kv: KV) -> None:
    single = CredentialPool(kv, "tenant-4:openai", [PooledCredential("only", {"api_key": "k"})])
    assert [e.id for e in await single.candidates()] == ["only"]
    assert await kv.get("model_runtime:rotation:tenant-4:openai") is None
    await single.cool_down("only")
    with pytest.raises(RateLimited):
        await single.candidates()
    pair = CredentialPool(
        kv, "tenant-5:openai", [PooledCredential("a", {}), PooledCredential("b", {})]
    )
    await pair.candidates()
    assert await kv.get("model_runtime:rotation:tenant-5:openai") is not None
