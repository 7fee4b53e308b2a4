"""The ``kv`` fixture: every test here runs on MemoryKV and on RedisKV.

The Redis one talks to the real server with a random key prefix per test, so parallel
runs never share keys or channels, and deletes its keys afterwards.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from ore.core.kv import KV
from ore.core.kv.memory import MemoryKV
from ore.core.kv.redis import RedisKV
from tests.conftest import REDIS_URL_HOST


async def delete_prefixed(prefix: str, db: int = 0) -> None:
    client = Redis(host=REDIS_URL_HOST, port=6379, db=db)
    try:
        keys = [key async for key in client.scan_iter(match=f"{prefix}*")]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


@pytest.fixture(params=["memory", "redis"])
async def kv(request: pytest.FixtureRequest) -> AsyncIterator[KV]:
    if request.param == "memory":
        memory = MemoryKV()
        yield memory
        await memory.close()
        return
    prefix = f"ore-test:{uuid.uuid4().hex}:"
    redis_kv = RedisKV(Redis(host=REDIS_URL_HOST, port=6379), prefix=prefix)
    try:
        yield redis_kv
    finally:
        await redis_kv.close()
        await delete_prefixed(prefix)
