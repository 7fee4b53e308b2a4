"""Chooses the KV implementation: Redis when REDIS_HOST is set, in-process otherwise."""

from __future__ import annotations

from ore.config import Settings
from ore.core.kv import KV
from ore.core.kv.memory import MemoryKV


def create_kv(settings: Settings) -> KV:
    if settings.redis_enabled:
        raise NotImplementedError("Redis KV is being built")
    return MemoryKV()
