"""The internet guard of these tests does refuse outside hosts."""

from __future__ import annotations

import socket

import httpx
import pytest

from ore.core.model_runtime.entities import ChatMessage, ChatRequest
from ore.core.model_runtime.vendors.openai import provider as openai_provider


def test_outside_address_fails_the_test() -> None:
    with (
        socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock,
        pytest.raises(pytest.fail.Exception, match="reach the internet"),
    ):
        sock.connect(("192.0.2.1", 443))


def test_outside_name_fails_the_test() -> None:
    with pytest.raises(pytest.fail.Exception, match="outside host"):
        socket.getaddrinfo("api.openai.com", 443)


async def test_default_base_url_is_stopped_by_the_guard() -> None:
    request = ChatRequest(model="gpt-4o", messages=[ChatMessage(role="user", content="hi")])
    async with httpx.AsyncClient() as client:
        with pytest.raises(pytest.fail.Exception):
            await openai_provider.chat(request, {"api_key": "sk"}, http_client=client)
