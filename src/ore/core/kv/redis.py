"""Redis KV: cache, locks, rate limits and pub/sub shared by every process.

Same semantics as :mod:`ore.core.kv.memory`. Every key and channel gets the prefix
(REDIS_KEY_PREFIX), so several deployments, or parallel tests, can share one server;
channels need it too because Redis pub/sub ignores the database number.
"""

from __future__ import annotations

import asyncio
import logging
import math
import uuid
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.exceptions import RedisError

from ore.core.kv.base import LockTimeout, RateLimitResult, check_ttl, rate_limit_result

_log = logging.getLogger(__name__)

# INCRBY that sets the expiry only when it creates the key, atomically (a script runs
# alone on the server), and returns the remaining lifetime so a rate-limit hit is one
# round trip. Same rule as MemoryKV.incr.
_INCR_SCRIPT = """
local created = redis.call('EXISTS', KEYS[1]) == 0
local value = redis.call('INCRBY', KEYS[1], ARGV[1])
if created and ARGV[2] ~= '' then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return {value, redis.call('PTTL', KEYS[1])}
"""

# Compare-and-delete: a holder whose lease ran out must not free the next holder's lock.
_RELEASE_SCRIPT = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""

_LOCK_POLL_MIN = 0.01
_LOCK_POLL_MAX = 0.1
_PUBSUB_CONFIRM_TIMEOUT = 5.0
_PUBSUB_LEAVE_TIMEOUT = 2.0


def _milliseconds(seconds: float) -> int:
    # Round up so a tiny positive ttl never becomes PX 0, which Redis refuses.
    return max(1, math.ceil(seconds * 1000))


def _seconds(pttl: int) -> float | None:
    # PTTL answers -2 for a missing key and -1 for a key without expiry.
    return pttl / 1000 if pttl >= 0 else None


class _RedisSubscription:
    def __init__(self, pubsub: PubSub, prefix_length: int) -> None:
        self._pubsub = pubsub
        self._prefix_length = prefix_length

    async def __aiter__(self) -> AsyncIterator[tuple[str, bytes]]:
        async for message in self._pubsub.listen():
            if message["type"] == "message":
                channel = bytes(message["channel"])[self._prefix_length :].decode()
                yield channel, bytes(message["data"])


class RedisKV:
    """KV on redis-py asyncio. It owns ``client`` and closes it in :meth:`close`.

    ``client`` must return bytes (``decode_responses=False``, redis-py's default).
    """

    name = "redis"

    def __init__(self, client: Redis, *, prefix: str = "ore:") -> None:
        if client.connection_pool.connection_kwargs.get("decode_responses"):
            raise ValueError("RedisKV needs a client with decode_responses=False")
        self._client = client
        self._prefix = prefix
        self._incr = client.register_script(_INCR_SCRIPT)
        self._release = client.register_script(_RELEASE_SCRIPT)
        self._cleanups: set[asyncio.Task[None]] = set()

    def _key(self, key: str) -> str:
        return self._prefix + key

    async def get(self, key: str) -> bytes | None:
        value = await self._client.get(self._key(key))
        return value.encode() if isinstance(value, str) else value

    async def set(
        self,
        key: str,
        value: bytes | str,
        *,
        ttl: float | None = None,
        only_if_absent: bool = False,
    ) -> bool:
        check_ttl(ttl)
        px = None if ttl is None else _milliseconds(ttl)
        return bool(await self._client.set(self._key(key), value, px=px, nx=only_if_absent))

    async def delete(self, *keys: str) -> int:
        if not keys:
            return 0
        return int(await self._client.delete(*(self._key(key) for key in keys)))

    async def _increment(self, key: str, amount: int, ttl: float | None) -> tuple[int, int]:
        check_ttl(ttl)
        ttl_arg = "" if ttl is None else str(_milliseconds(ttl))
        value, pttl = await self._incr(keys=[self._key(key)], args=[amount, ttl_arg])
        return int(value), int(pttl)

    async def incr(self, key: str, amount: int = 1, *, ttl: float | None = None) -> int:
        value, _ = await self._increment(key, amount, ttl)
        return value

    async def ttl(self, key: str) -> float | None:
        return _seconds(int(await self._client.pttl(self._key(key))))

    @asynccontextmanager
    async def lock(
        self, name: str, *, timeout: float = 10.0, blocking_timeout: float | None = None
    ) -> AsyncIterator[None]:
        key = f"lock:{name}"
        token = uuid.uuid4().hex
        loop = asyncio.get_running_loop()
        deadline = None if blocking_timeout is None else loop.time() + blocking_timeout
        pause = _LOCK_POLL_MIN
        while not await self.set(key, token, ttl=timeout, only_if_absent=True):
            remaining = None if deadline is None else deadline - loop.time()
            if remaining is not None and remaining <= 0:
                raise LockTimeout(f"lock {name!r} is held elsewhere")
            # Redis has no wake-up on release without a subscription; poll with backoff.
            await asyncio.sleep(pause if remaining is None else min(pause, remaining))
            pause = min(pause * 2, _LOCK_POLL_MAX)
        try:
            yield
        finally:
            await self._run_to_end(self._unlock(name, key, token, timeout))

    async def _unlock(self, name: str, key: str, token: str, timeout: float) -> None:
        try:
            released = await self._release(keys=[self._key(key)], args=[token])
        except RedisError as error:
            # The lease bounds the damage: the lock frees itself after ``timeout``.
            _log.warning("could not release lock %r: %s", name, error)
            return
        if not released:
            _log.warning("lock %r outlived its %s s lease; raise its timeout", name, timeout)

    async def hit(self, key: str, *, limit: int, window: float) -> RateLimitResult:
        count, pttl = await self._increment(f"rate:{key}", 1, window)
        return rate_limit_result(count, limit, _seconds(pttl))

    async def peek(self, key: str, *, limit: int, window: float) -> RateLimitResult:
        rate_key = self._key(f"rate:{key}")
        async with self._client.pipeline(transaction=True) as pipe:
            pipe.get(rate_key)
            pipe.pttl(rate_key)
            raw, pttl = await pipe.execute()
        count = int(raw) if raw else 0
        return rate_limit_result(count, limit, _seconds(int(pttl)), probing=True)

    async def reset(self, key: str) -> None:
        await self.delete(f"rate:{key}")

    async def publish(self, channel: str, message: bytes | str) -> int:
        return int(await self._client.publish(self._key(channel), message))

    @asynccontextmanager
    async def subscribe(self, *channels: str) -> AsyncIterator[_RedisSubscription]:
        if not channels:
            raise ValueError("subscribe needs at least one channel")
        pubsub = self._client.pubsub()
        try:
            await pubsub.subscribe(*(self._key(channel) for channel in channels))
            # Wait for the server's confirmations: only then is a publish from another
            # connection sure to reach us, as it is with MemoryKV.
            async with asyncio.timeout(_PUBSUB_CONFIRM_TIMEOUT):
                confirmed = 0
                while confirmed < len(set(channels)):
                    message = await pubsub.get_message(timeout=None)
                    if message is not None and message["type"] == "subscribe":
                        confirmed += 1
            yield _RedisSubscription(pubsub, len(self._prefix))
        finally:
            await self._run_to_end(self._leave(pubsub))

    @staticmethod
    async def _leave(pubsub: PubSub) -> None:
        try:
            connection = pubsub.connection
            if connection is not None and connection.is_connected:
                # Unsubscribe and wait for the confirmations, so a publish made after we
                # left neither reaches nor counts us.
                async with asyncio.timeout(_PUBSUB_LEAVE_TIMEOUT):
                    await pubsub.unsubscribe()
                    while pubsub.subscribed:
                        await pubsub.get_message(timeout=None)
        except (RedisError, OSError, TimeoutError) as error:
            _log.warning("could not unsubscribe cleanly: %s", error)
        finally:
            await pubsub.aclose()  # type: ignore[no-untyped-call]  # untyped in redis-py

    async def _run_to_end(self, cleanup: Coroutine[Any, Any, None]) -> None:
        """Runs ``cleanup`` to its end even if the caller is being cancelled.

        A streaming response cancelled by a departed client must still release its lock
        and its pub/sub connection; ``close`` waits for cleanups still running.
        """
        task = asyncio.ensure_future(cleanup)
        self._cleanups.add(task)
        task.add_done_callback(self._cleanups.discard)
        await asyncio.shield(task)

    async def ping(self) -> None:
        await self._client.ping()

    async def close(self) -> None:
        if self._cleanups:
            await asyncio.gather(*self._cleanups, return_exceptions=True)
        await self._client.aclose()
