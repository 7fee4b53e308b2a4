"""In-process KV: one event loop, one process (embedded mode).

Same semantics as the Redis implementation: TTLs in seconds, fixed-window rate limits,
locks that expire after ``timeout`` so a crashed holder cannot wedge them, and pub/sub
that delivers to subscribers attached at publish time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from ore.core.kv.base import LockTimeout, RateLimitResult, check_ttl, rate_limit_result

_log = logging.getLogger(__name__)


@dataclass
class _Entry:
    value: bytes
    expires_at: float | None


def _to_bytes(value: bytes | str) -> bytes:
    return value if isinstance(value, bytes) else value.encode("utf-8")


@dataclass(eq=False)  # kept in sets of subscribers: hashed by identity
class _MemorySubscription:
    queue: asyncio.Queue[tuple[str, bytes]] = field(default_factory=asyncio.Queue)

    async def __aiter__(self) -> AsyncIterator[tuple[str, bytes]]:
        while True:
            yield await self.queue.get()


class MemoryKV:
    name = "memory"

    def __init__(self) -> None:
        self._data: dict[str, _Entry] = {}
        self._subscribers: dict[str, set[_MemorySubscription]] = defaultdict(set)
        self._lock_changed = asyncio.Condition()

    def _live(self, key: str) -> _Entry | None:
        entry = self._data.get(key)
        if entry is None:
            return None
        if entry.expires_at is not None and entry.expires_at <= time.monotonic():
            del self._data[key]
            return None
        return entry

    @staticmethod
    def _deadline(ttl: float | None) -> float | None:
        return None if ttl is None else time.monotonic() + ttl

    async def get(self, key: str) -> bytes | None:
        entry = self._live(key)
        return entry.value if entry else None

    async def set(
        self,
        key: str,
        value: bytes | str,
        *,
        ttl: float | None = None,
        only_if_absent: bool = False,
    ) -> bool:
        check_ttl(ttl)
        if only_if_absent and self._live(key) is not None:
            return False
        self._data[key] = _Entry(_to_bytes(value), self._deadline(ttl))
        return True

    async def delete(self, *keys: str) -> int:
        removed = 0
        for key in keys:
            if self._live(key) is not None:
                del self._data[key]
                removed += 1
        if removed:
            async with self._lock_changed:
                self._lock_changed.notify_all()
        return removed

    async def incr(self, key: str, amount: int = 1, *, ttl: float | None = None) -> int:
        check_ttl(ttl)
        entry = self._live(key)
        if entry is None:
            entry = _Entry(b"0", self._deadline(ttl))
            self._data[key] = entry
        value = int(entry.value) + amount
        entry.value = str(value).encode()
        return value

    async def ttl(self, key: str) -> float | None:
        entry = self._live(key)
        if entry is None or entry.expires_at is None:
            return None
        return max(0.0, entry.expires_at - time.monotonic())

    @asynccontextmanager
    async def lock(
        self, name: str, *, timeout: float = 10.0, blocking_timeout: float | None = None
    ) -> AsyncIterator[None]:
        key = f"lock:{name}"
        token = uuid.uuid4().hex.encode()
        deadline = None if blocking_timeout is None else time.monotonic() + blocking_timeout
        while not await self.set(key, token, ttl=timeout, only_if_absent=True):
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                raise LockTimeout(f"lock {name!r} is held elsewhere")
            # Wake on release, or poll in case the holder's lease simply expired.
            wait = 0.05 if remaining is None else min(0.05, remaining)
            async with self._lock_changed:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._lock_changed.wait(), wait)
        try:
            yield
        finally:
            entry = self._live(key)
            if entry is not None and entry.value == token:
                await self.delete(key)
            else:
                _log.warning("lock %r outlived its %s s lease; raise its timeout", name, timeout)

    async def hit(self, key: str, *, limit: int, window: float) -> RateLimitResult:
        count = await self.incr(f"rate:{key}", ttl=window)
        return rate_limit_result(count, limit, await self.ttl(f"rate:{key}"))

    async def peek(self, key: str, *, limit: int, window: float) -> RateLimitResult:
        raw = await self.get(f"rate:{key}")
        count = int(raw) if raw else 0
        return rate_limit_result(count, limit, await self.ttl(f"rate:{key}"), probing=True)

    async def reset(self, key: str) -> None:
        await self.delete(f"rate:{key}")

    async def publish(self, channel: str, message: bytes | str) -> int:
        subscribers = list(self._subscribers.get(channel, ()))
        for subscription in subscribers:
            subscription.queue.put_nowait((channel, _to_bytes(message)))
        return len(subscribers)

    @asynccontextmanager
    async def subscribe(self, *channels: str) -> AsyncIterator[_MemorySubscription]:
        if not channels:
            raise ValueError("subscribe needs at least one channel")
        subscription = _MemorySubscription()
        for channel in channels:
            self._subscribers[channel].add(subscription)
        try:
            yield subscription
        finally:
            for channel in channels:
                self._subscribers[channel].discard(subscription)
                if not self._subscribers[channel]:
                    del self._subscribers[channel]

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        self._data.clear()
