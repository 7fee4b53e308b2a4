"""create_kv: Redis if and only if REDIS_HOST is set."""

from __future__ import annotations

import uuid
from pathlib import Path

from redis.asyncio import Redis

from ore.core.kv.memory import MemoryKV
from ore.core.kv.redis import RedisKV
from ore.extensions.kv import create_kv
from tests.conftest import REDIS_URL_HOST, make_settings
from tests.core.kv.conftest import delete_prefixed


def _database_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'unused.db'}"  # never opened here


async def test_memory_without_redis_host(tmp_path: Path) -> None:
    kv = create_kv(make_settings(_database_url(tmp_path), tmp_path))
    assert isinstance(kv, MemoryKV)
    assert kv.name == "memory"
    await kv.close()


async def test_redis_when_redis_host_is_set(tmp_path: Path) -> None:
    prefix = f"ore-test:{uuid.uuid4().hex}:"
    settings = make_settings(
        _database_url(tmp_path),
        tmp_path,
        REDIS_HOST=REDIS_URL_HOST,
        REDIS_PORT=6379,
        REDIS_DB=3,
        REDIS_KEY_PREFIX=prefix,
    )
    kv = create_kv(settings)
    assert isinstance(kv, RedisKV)
    assert kv.name == "redis"
    try:
        await kv.ping()
        await kv.set("probe", "written by create_kv's client")
        # The key landed in the configured database, under the configured prefix.
        raw = Redis(host=REDIS_URL_HOST, port=6379, db=3)
        try:
            assert await raw.get(f"{prefix}probe") == b"written by create_kv's client"
        finally:
            await raw.aclose()
    finally:
        await kv.close()
        await delete_prefixed(prefix, db=3)
