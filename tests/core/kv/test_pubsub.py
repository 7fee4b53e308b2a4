"""Publish/subscribe: fan-out to every subscriber, nothing after unsubscribing."""

from __future__ import annotations

from collections.abc import AsyncIterator

import anyio
import pytest

from ore.core.kv import KV


async def next_message(messages: AsyncIterator[tuple[str, bytes]]) -> tuple[str, bytes]:
    with anyio.fail_after(5):  # a guard against hanging, not a timing assertion
        return await anext(messages)


async def test_publish_reaches_every_subscriber(kv: KV) -> None:
    async with kv.subscribe("events") as first, kv.subscribe("events", "other") as second:
        first_messages, second_messages = aiter(first), aiter(second)
        assert await kv.publish("events", "héllo") == 2
        assert await kv.publish("other", b"\x00bytes") == 1
        assert await next_message(first_messages) == ("events", "héllo".encode())
        assert await next_message(second_messages) == ("events", "héllo".encode())
        assert await next_message(second_messages) == ("other", b"\x00bytes")


async def test_no_delivery_after_unsubscribe(kv: KV) -> None:
    async with kv.subscribe("events") as staying:
        messages = aiter(staying)
        async with kv.subscribe("events") as leaving:
            assert await kv.publish("events", "both") == 2
            assert await next_message(aiter(leaving)) == ("events", b"both")
        assert await kv.publish("events", "one") == 1
        assert await next_message(messages) == ("events", b"both")
        assert await next_message(messages) == ("events", b"one")
    assert await kv.publish("events", "nobody") == 0


async def test_messages_arrive_in_order(kv: KV) -> None:
    async with kv.subscribe("ordered") as subscription:
        messages = aiter(subscription)
        for number in range(5):
            await kv.publish("ordered", str(number))
        received = [await next_message(messages) for _ in range(5)]
    assert received == [("ordered", str(number).encode()) for number in range(5)]


async def test_subscribe_needs_a_channel(kv: KV) -> None:
    with pytest.raises(ValueError, match="channel"):
        async with kv.subscribe():
            pass
