"""get/set/delete/incr and expiry, identical on MemoryKV and RedisKV."""

from __future__ import annotations

import anyio
import pytest

from ore.core.kv import KV

SHORT = 0.2  # seconds: long enough to read back, short enough to wait out


async def test_set_get_and_overwrite(kv: KV) -> None:
    assert await kv.get("missing") is None
    assert await kv.set("greeting", "héllo") is True
    assert await kv.get("greeting") == "héllo".encode()
    assert await kv.set("greeting", b"\x00\xff") is True
    assert await kv.get("greeting") == b"\x00\xff"
    assert await kv.ttl("greeting") is None


async def test_ttl_counts_down_and_expires(kv: KV) -> None:
    await kv.set("long", "v", ttl=10)
    remaining = await kv.ttl("long")
    assert remaining is not None and 0 < remaining <= 10
    assert await kv.get("long") == b"v"

    await kv.set("short", "v", ttl=SHORT)
    await anyio.sleep(SHORT + 0.1)
    assert await kv.get("short") is None
    assert await kv.ttl("short") is None


async def test_set_without_ttl_clears_the_previous_expiry(kv: KV) -> None:
    await kv.set("key", "first", ttl=SHORT)
    await kv.set("key", "second")
    await anyio.sleep(SHORT + 0.1)
    assert await kv.get("key") == b"second"


async def test_only_if_absent(kv: KV) -> None:
    assert await kv.set("once", "first", only_if_absent=True) is True
    assert await kv.set("once", "second", only_if_absent=True) is False
    assert await kv.get("once") == b"first"

    await kv.set("brief", "old", ttl=SHORT)
    await anyio.sleep(SHORT + 0.1)
    assert await kv.set("brief", "new", only_if_absent=True) is True
    assert await kv.get("brief") == b"new"


async def test_delete_counts_existing_keys(kv: KV) -> None:
    await kv.set("a", "1")
    await kv.set("b", "2")
    assert await kv.delete("a", "b", "never-set") == 2
    assert await kv.get("a") is None
    assert await kv.delete("a") == 0
    assert await kv.delete() == 0


async def test_incr_sets_ttl_only_when_it_creates_the_key(kv: KV) -> None:
    assert await kv.incr("hits", ttl=10) == 1
    assert await kv.incr("hits", 5, ttl=1000) == 6
    remaining = await kv.ttl("hits")
    assert remaining is not None and remaining <= 10  # the second ttl was ignored
    assert await kv.incr("hits", -2) == 4
    assert await kv.get("hits") == b"4"

    assert await kv.incr("plain") == 1
    assert await kv.ttl("plain") is None


async def test_incr_starts_over_after_expiry(kv: KV) -> None:
    assert await kv.incr("window", ttl=SHORT) == 1
    assert await kv.incr("window", ttl=SHORT) == 2
    await anyio.sleep(SHORT + 0.1)
    assert await kv.incr("window", ttl=SHORT) == 1


async def test_non_positive_ttl_is_refused(kv: KV) -> None:
    with pytest.raises(ValueError, match="ttl"):
        await kv.set("key", "v", ttl=0)
    with pytest.raises(ValueError, match="ttl"):
        await kv.incr("key", ttl=-1)
    assert await kv.get("key") is None


async def test_ping(kv: KV) -> None:
    await kv.ping()
