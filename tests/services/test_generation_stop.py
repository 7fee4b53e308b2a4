"""until_stopped: a generation's producer obeys a stop between chunks and mid-wait, without
a task per chunk, and a cancellation from outside still cancels."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from ore.services.generation.run import until_stopped


class Chunks:
    """Yields ``count`` chunks, then waits forever; records whether it was closed."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.closed = False
        self.waiting = asyncio.Event()

    async def stream(self) -> AsyncIterator[int]:
        try:
            for number in range(self.count):
                yield number
            self.waiting.set()
            await asyncio.Event().wait()
        finally:
            self.closed = True


async def test_items_pass_until_the_stream_ends() -> None:
    async def three() -> AsyncIterator[int]:
        for number in range(3):
            yield number

    assert [item async for item in until_stopped(three(), asyncio.Event())] == [0, 1, 2]


async def test_a_stop_between_chunks_ends_before_the_next_read() -> None:
    chunks, stopped = Chunks(10), asyncio.Event()
    received = []
    async for item in until_stopped(chunks.stream(), stopped):
        received.append(item)
        if item == 2:
            stopped.set()
    assert received == [0, 1, 2]


async def test_a_stop_interrupts_a_read_that_waits() -> None:
    chunks, stopped = Chunks(2), asyncio.Event()

    async def consume() -> list[int]:
        return [item async for item in until_stopped(chunks.stream(), stopped)]

    consumer = asyncio.create_task(consume())
    await asyncio.wait_for(chunks.waiting.wait(), 5)
    stopped.set()
    assert await asyncio.wait_for(consumer, 5) == [0, 1]
    assert chunks.closed  # the pending read was cancelled and finished
    assert consumer.cancelling() == 0  # the interruption left no cancellation behind


async def test_a_stop_while_the_caller_works_on_an_item_never_cancels_the_caller() -> None:
    chunks, stopped = Chunks(5), asyncio.Event()
    received = []
    async for item in until_stopped(chunks.stream(), stopped):
        stopped.set()
        await asyncio.sleep(0.01)  # the caller's own await (say, a commit) is not cut short
        received.append(item)
    assert received == [0]
    assert asyncio.current_task().cancelling() == 0  # type: ignore[union-attr]


async def test_a_cancellation_from_outside_still_cancels() -> None:
    chunks, stopped = Chunks(0), asyncio.Event()

    async def consume() -> list[int]:
        return [item async for item in until_stopped(chunks.stream(), stopped)]

    consumer = asyncio.create_task(consume())
    await asyncio.wait_for(chunks.waiting.wait(), 5)
    consumer.cancel()
    with pytest.raises(asyncio.CancelledError):
        await consumer
    assert chunks.closed


async def test_stop_and_outside_cancel_together_cancel() -> None:
    chunks, stopped = Chunks(0), asyncio.Event()

    async def consume() -> list[int]:
        return [item async for item in until_stopped(chunks.stream(), stopped)]

    consumer = asyncio.create_task(consume())
    await asyncio.wait_for(chunks.waiting.wait(), 5)
    stopped.set()
    consumer.cancel()
    with pytest.raises(asyncio.CancelledError):
        await consumer
