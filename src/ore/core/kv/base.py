"""The KV protocol shared by the in-process and Redis implementations."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Protocol


class LockTimeout(Exception):
    """The lock could not be taken within ``blocking_timeout``."""


@dataclass(frozen=True, slots=True)
class RateLimitResult:
    allowed: bool
    remaining: int
    retry_after: float  # seconds until the next hit would be allowed (0 when allowed)


class Subscription(Protocol):
    def __aiter__(self) -> AsyncIterator[tuple[str, bytes]]: ...


class KV(Protocol):
    """Keys are plain strings; implementations add their own prefix."""

    name: str

    async def get(self, key: str) -> bytes | None: ...

    async def set(
        self,
        key: str,
        value: bytes | str,
        *,
        ttl: float | None = None,
        only_if_absent: bool = False,
    ) -> bool: ...

    async def delete(self, *keys: str) -> int: ...

    async def incr(self, key: str, amount: int = 1, *, ttl: float | None = None) -> int: ...

    async def ttl(self, key: str) -> float | None: ...

    def lock(
        self, name: str, *, timeout: float = 10.0, blocking_timeout: float | None = None
    ) -> AbstractAsyncContextManager[None]: ...

    async def hit(self, key: str, *, limit: int, window: float) -> RateLimitResult: ...

    async def peek(self, key: str, *, limit: int, window: float) -> RateLimitResult: ...

    async def reset(self, key: str) -> None: ...

    async def publish(self, channel: str, message: bytes | str) -> int: ...

    def subscribe(self, *channels: str) -> AbstractAsyncContextManager[Subscription]: ...

    async def ping(self) -> None: ...

    async def close(self) -> None: ...
