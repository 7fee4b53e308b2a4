"""Failover across several credentials of one provider.

A :class:`CredentialPool` hands out credentials round robin (weights repeat an entry);
when a call fails with a retryable error (429, 5xx, timeout, connection) before its first
chunk, that credential cools down for ``cooldown`` seconds and the next one is tried.
Cooldowns and the rotation live in a :class:`~ore.core.kv.KV`, so with Redis every
process shares them.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Mapping
from contextlib import aclosing
from dataclasses import dataclass
from typing import Any

import httpx

from ore.core.kv import KV
from ore.core.model_runtime.base import ModelAdapter
from ore.core.model_runtime.entities import ChatChunk, ChatRequest, ChatResult, assemble
from ore.core.model_runtime.errors import ModelRuntimeError, ProviderNotInitialized, RateLimited
from ore.core.model_runtime.retry import CallPolicy


@dataclass(frozen=True)
class PooledCredential:
    id: str
    credentials: Mapping[str, Any]
    weight: int = 1


class CredentialPool:
    """Credentials of one provider (or one model) under a stable ``key``."""

    def __init__(
        self,
        kv: KV,
        key: str,
        entries: list[PooledCredential],
        *,
        cooldown: float = 60.0,
    ) -> None:
        self.kv = kv
        self.key = key
        self.entries = entries
        self.cooldown = cooldown

    def _cooldown_key(self, credential_id: str) -> str:
        return f"model_runtime:cooldown:{self.key}:{credential_id}"

    async def cool_down(self, credential_id: str) -> None:
        """Take a credential out of rotation for ``cooldown`` seconds."""
        await self.kv.set(self._cooldown_key(credential_id), b"1", ttl=self.cooldown)

    async def is_cooling(self, credential_id: str) -> bool:
        return await self.kv.get(self._cooldown_key(credential_id)) is not None

    async def candidates(self) -> list[PooledCredential]:
        """Available credentials, starting at the next one in the rotation."""
        if not self.entries:
            raise ProviderNotInitialized()
        ring = [e for e in self.entries for _ in range(max(1, e.weight))]
        start = 0
        if len(self.entries) > 1:
            # One credential has no rotation to keep: a KV round trip saved on every call.
            turn = await self.kv.incr(f"model_runtime:rotation:{self.key}")
            start = (turn - 1) % len(ring)
        ordered: list[PooledCredential] = []
        for entry in ring[start:] + ring[:start]:
            if entry not in ordered and not await self.is_cooling(entry.id):
                ordered.append(entry)
        if not ordered:
            raise RateLimited("Every credential of this provider is cooling down; try again later.")
        return ordered

    async def stream_chat(
        self,
        adapter: ModelAdapter,
        request: ChatRequest,
        *,
        http_client: httpx.AsyncClient | None = None,
        policy: CallPolicy | None = None,
    ) -> AsyncGenerator[ChatChunk, None]:
        """Stream from the first credential that answers; fail over before the first chunk."""
        last: ModelRuntimeError | None = None
        for entry in await self.candidates():
            stream = adapter.stream_chat(
                request, entry.credentials, http_client=http_client, policy=policy
            )
            try:
                first = await anext(stream)
            except StopAsyncIteration:
                return
            except ModelRuntimeError as exc:
                await stream.aclose()
                if not exc.retryable:
                    raise
                await self.cool_down(entry.id)
                last = exc
                continue
            async with aclosing(stream):
                yield first
                async for chunk in stream:
                    yield chunk
            return
        assert last is not None
        raise last

    async def chat(
        self,
        adapter: ModelAdapter,
        request: ChatRequest,
        *,
        http_client: httpx.AsyncClient | None = None,
        policy: CallPolicy | None = None,
    ) -> ChatResult:
        """A blocking chat with failover, assembled from :meth:`stream_chat`."""
        stream = self.stream_chat(adapter, request, http_client=http_client, policy=policy)
        return assemble(request.model, [chunk async for chunk in stream])
