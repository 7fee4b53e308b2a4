"""The gateway's short-lived cache of bound models: expiry, bound size, and workspaces apart."""

from __future__ import annotations

import time
import uuid
from typing import Any, cast

import pytest

from ore.services.model_providers import BindingCache, BoundModel


def bound(name: str) -> BoundModel:
    # Only identity matters to the cache; a real binding needs a workspace and a database.
    return cast(BoundModel, name)


def test_a_binding_is_reused_until_its_ttl_passes(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1000.0]
    monkeypatch.setattr(time, "monotonic", lambda: now[0])
    cache = BindingCache(ttl=1.0)
    key: Any = (uuid.uuid4(), "local/m", "llm")
    cache.put(key, bound("a"))
    now[0] += 0.9
    assert cache.get(key) == "a"
    now[0] += 0.2
    assert cache.get(key) is None


def test_workspaces_and_model_types_do_not_share_bindings() -> None:
    cache = BindingCache(ttl=60)
    mine, theirs = uuid.uuid4(), uuid.uuid4()
    cache.put((mine, "openai_api_compatible/m", "llm"), bound("mine"))
    assert cache.get((theirs, "openai_api_compatible/m", "llm")) is None
    assert cache.get((mine, "openai_api_compatible/m", "text-embedding")) is None
    assert cache.get((mine, "openai_api_compatible/m", "llm")) == "mine"


def test_the_cache_stays_within_its_size() -> None:
    cache = BindingCache(ttl=60, size=8)
    tenant = uuid.uuid4()
    for i in range(50):
        cache.put((tenant, f"p/m{i}", "llm"), bound(str(i)))
        assert len(cache._entries) <= 8
    assert cache.get((tenant, "p/m49", "llm")) == "49"
