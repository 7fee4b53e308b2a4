"""Fixtures of the model runtime tests: the internet guard and the scripted upstream."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from ore.core.model_runtime.retry import CallPolicy
from tests.core.kv.conftest import kv  # noqa: F401 - the KV fixture, memory and Redis
from tests.upstreams import ScriptedServer


@pytest.fixture
def upstream(scripted_server: ScriptedServer) -> Iterator[ScriptedServer]:
    scripted_server.script.clear()
    scripted_server.received.clear()
    yield scripted_server
    scripted_server.script.clear()


@pytest.fixture
async def http_client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


@pytest.fixture
def fast_policy() -> CallPolicy:
    """Short backoff and timeouts so error paths finish quickly."""
    return CallPolicy(
        max_retries=2,
        backoff_base=0.01,
        backoff_max=0.02,
        first_chunk_timeout=2.0,
        chunk_timeout=2.0,
        deadline=10.0,
    )
