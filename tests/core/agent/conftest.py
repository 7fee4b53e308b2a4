"""Fixtures of the agent loop tests: a model bound to credentials, the scripted upstream."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from ore.core.model_runtime import ChatChunk, ChatRequest, ModelAdapter
from ore.core.model_runtime.retry import CallPolicy
from tests.upstreams import ScriptedServer


@dataclass
class Bound:
    """An adapter with its credentials: the shape of the runtime's BoundModel."""

    adapter: ModelAdapter
    credentials: dict[str, Any] = field(default_factory=dict)
    http_client: httpx.AsyncClient | None = None
    policy: CallPolicy | None = None

    def stream_chat(self, request: ChatRequest) -> AsyncGenerator[ChatChunk, None]:
        return self.adapter.stream_chat(
            request, self.credentials, http_client=self.http_client, policy=self.policy
        )


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
