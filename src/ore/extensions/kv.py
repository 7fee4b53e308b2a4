"""Chooses the KV implementation: Redis when REDIS_HOST is set, in-process otherwise."""

from __future__ import annotations

from redis.asyncio import Redis

from ore.config import Settings
from ore.core.kv import KV
from ore.core.kv.memory import MemoryKV
from ore.core.kv.redis import RedisKV


def create_kv(settings: Settings) -> KV:
    """The KV for these settings; the Redis client connects lazily, on first use."""
    if not settings.redis_enabled:
        return MemoryKV()
    client = Redis(
        host=settings.REDIS_HOST,
        port=settings.REDIS_PORT,
        username=settings.REDIS_USERNAME or None,
        password=settings.REDIS_PASSWORD or None,
        db=settings.REDIS_DB,
        ssl=settings.REDIS_USE_SSL,
        socket_connect_timeout=5,
        # Idle pub/sub connections can be dropped by proxies; a periodic PING notices.
        health_check_interval=30,
    )
    return RedisKV(client, prefix=settings.REDIS_KEY_PREFIX)
