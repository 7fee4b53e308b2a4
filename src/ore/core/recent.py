"""A small in-process cache of things read recently, each kept for a few seconds."""

from __future__ import annotations

import time
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class RecentCache(Generic[K, V]):
    """Values kept for ``ttl`` seconds after they were put, at most ``size`` of them (when
    full, the expired ones go; if none has expired, all go). For state a hot path would
    otherwise read again on every call, where being up to ``ttl`` seconds late is fine."""

    def __init__(self, ttl: float, size: int = 1024) -> None:
        self.ttl = ttl
        self.size = size
        self._entries: dict[K, tuple[float, V]] = {}

    def get(self, key: K) -> V | None:
        found = self._entries.get(key)
        if found is None or found[0] <= time.monotonic():
            return None
        return found[1]

    def put(self, key: K, value: V) -> None:
        now = time.monotonic()
        if len(self._entries) >= self.size:
            self._entries = {k: v for k, v in self._entries.items() if v[0] > now}
            if len(self._entries) >= self.size:
                self._entries.clear()
        self._entries[key] = (now + self.ttl, value)

    def forget(self, key: K) -> None:
        self._entries.pop(key, None)
