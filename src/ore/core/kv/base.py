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


def check_ttl(ttl: float | None) -> None:
    """Both implementations refuse a non-positive ttl (Redis itself rejects PX 0)."""
    if ttl is not None and ttl <= 0:
        raise ValueError(f"ttl must be a positive number of seconds, got {ttl!r}")


def rate_limit_result(
    count: int, limit: int, ttl: float | None, *, probing: bool = False
) -> RateLimitResult:
    """The fixed-window verdict, shared so both implementations decide alike.

    ``count`` includes the current hit, except when ``probing`` (peek), where it counts
    only the hits already made; ``ttl`` is what is left of the window.
    """
    allowed = count < limit if probing else count <= limit
    retry_after = 0.0 if allowed else (ttl or 0.0)
    return RateLimitResult(allowed, max(0, limit - count), retry_after)


class Subscription(Protocol):
    """Messages as ``(channel, payload)``, in the order they were published."""

    def __aiter__(self) -> AsyncIterator[tuple[str, bytes]]: ...


class KV(Protocol):
    """Keys are plain strings; implementations add their own prefix.

    Durations (``ttl``, lock ``timeout``/``blocking_timeout``, rate ``window``) are
    seconds as floats. ``incr`` sets ``ttl`` only when it creates the key. ``lock`` holds
    a lease of ``timeout`` seconds, so a crashed holder cannot wedge it; it waits up to
    ``blocking_timeout`` (forever when None, not at all when 0) and then raises
    :class:`LockTimeout`; leaving it releases the lock only if this holder still owns it.
    ``hit`` counts a request in a fixed window of ``window`` seconds that starts at the
    first hit; ``peek`` tells whether a hit would be allowed now, without counting one.
    ``subscribe`` receives what is published after it has been entered and until it is left.
    """

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
