"""Fixed-window rate limiting: allow, deny with retry_after, peek, reset, new window."""

from __future__ import annotations

import anyio

from ore.core.kv import KV, RateLimitResult


async def test_hits_are_allowed_up_to_the_limit_then_denied(kv: KV) -> None:
    assert await kv.hit("login:a", limit=2, window=10) == RateLimitResult(True, 1, 0.0)
    assert await kv.hit("login:a", limit=2, window=10) == RateLimitResult(True, 0, 0.0)
    denied = await kv.hit("login:a", limit=2, window=10)
    assert not denied.allowed
    assert denied.remaining == 0
    assert 0 < denied.retry_after <= 10
    # Other keys have their own window.
    assert (await kv.hit("login:b", limit=2, window=10)).allowed


async def test_peek_does_not_count(kv: KV) -> None:
    assert await kv.peek("api", limit=2, window=10) == RateLimitResult(True, 2, 0.0)
    await kv.hit("api", limit=2, window=10)
    assert await kv.peek("api", limit=2, window=10) == RateLimitResult(True, 1, 0.0)
    assert await kv.peek("api", limit=2, window=10) == RateLimitResult(True, 1, 0.0)
    await kv.hit("api", limit=2, window=10)
    full = await kv.peek("api", limit=2, window=10)
    assert not full.allowed
    assert full.remaining == 0
    assert 0 < full.retry_after <= 10


async def test_reset_starts_a_fresh_window(kv: KV) -> None:
    for _ in range(3):
        await kv.hit("send", limit=1, window=10)
    assert not (await kv.peek("send", limit=1, window=10)).allowed
    await kv.reset("send")
    assert await kv.peek("send", limit=1, window=10) == RateLimitResult(True, 1, 0.0)
    assert (await kv.hit("send", limit=1, window=10)).allowed


async def test_window_expiry_allows_again(kv: KV) -> None:
    await kv.hit("burst", limit=1, window=0.2)
    assert not (await kv.hit("burst", limit=1, window=0.2)).allowed
    await anyio.sleep(0.3)
    assert await kv.hit("burst", limit=1, window=0.2) == RateLimitResult(True, 0, 0.0)
