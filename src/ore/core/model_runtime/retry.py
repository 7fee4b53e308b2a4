"""Timeouts, retries with exponential backoff, and an overall deadline.

Retries happen only before the first chunk has been passed on (a caller must never see
a stream restart), and only for retryable errors: rate limits, 5xx, timeouts and
connection failures.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

import httpx

from ore.core.model_runtime.entities import ChatChunk
from ore.core.model_runtime.errors import CompletionRequestError, ModelRuntimeError


@dataclass(frozen=True)
class CallPolicy:
    """Per-call limits: ``first_chunk_timeout`` and ``chunk_timeout`` bound each phase."""

    max_retries: int = 2
    backoff_base: float = 0.5
    backoff_max: float = 8.0
    connect_timeout: float = 10.0
    first_chunk_timeout: float = 60.0
    chunk_timeout: float = 60.0
    deadline: float = 300.0

    def http_timeout(self) -> httpx.Timeout:
        """The per-read and connect timeouts of one upstream HTTP call."""
        return httpx.Timeout(self.chunk_timeout, connect=self.connect_timeout)

    def backoff(self, attempt: int) -> float:
        """Exponential backoff with jitter for retry number ``attempt`` (from 0)."""
        delay = min(self.backoff_max, self.backoff_base * 2**attempt)
        return float(delay * (0.5 + random.random() / 2))  # noqa: S311 - jitter, not security


T = TypeVar("T")
StreamFactory = Callable[[], AsyncIterator[ChatChunk]]


async def _next(it: AsyncIterator[ChatChunk], timeout: float, phase: str) -> ChatChunk:
    # asyncio.timeout, not wait_for: wait_for ran each chunk in a task of its own, which
    # cost more than reading the chunk.
    try:
        async with asyncio.timeout(max(0.001, timeout)):
            return await anext(it)
    except TimeoutError:
        raise CompletionRequestError(
            f"The model did not answer in time ({phase}).", retryable=True
        ) from None


def _limit(phase_timeout: float, remaining: float, phase: str) -> tuple[float, str]:
    """The wait for the next chunk and what it is named after, phase or deadline."""
    if remaining < phase_timeout:
        return remaining, "overall deadline"
    return phase_timeout, phase


async def _close(it: AsyncIterator[ChatChunk]) -> None:
    aclose = getattr(it, "aclose", None)
    if aclose is not None:
        # Closing a failed stream must not mask the error that ended it.
        with contextlib.suppress(Exception):
            await aclose()


async def _back_off(
    exc: ModelRuntimeError, attempt: int, policy: CallPolicy, started: float
) -> None:
    """Wait before retry number ``attempt``, or raise ``exc`` when it is not retryable,
    the retries are spent, or the wait would pass the deadline."""
    delay = policy.backoff(attempt)
    out_of_time = time.monotonic() - started + delay >= policy.deadline
    if not exc.retryable or attempt >= policy.max_retries or out_of_time:
        raise exc
    await asyncio.sleep(delay)


async def _first_chunk(
    factory: StreamFactory, policy: CallPolicy, started: float
) -> tuple[AsyncIterator[ChatChunk], ChatChunk | None]:
    """Open the stream and read its first chunk, retrying retryable failures."""
    attempt = 0
    while True:
        it = factory()
        remaining = policy.deadline - (time.monotonic() - started)
        try:
            first = await _next(it, *_limit(policy.first_chunk_timeout, remaining, "first chunk"))
            return it, first
        except StopAsyncIteration:
            return it, None
        except ModelRuntimeError as exc:
            await _close(it)
            await _back_off(exc, attempt, policy, started)
            attempt += 1


async def guarded_stream(
    factory: StreamFactory, policy: CallPolicy
) -> AsyncGenerator[ChatChunk, None]:
    """Run ``factory``'s stream under ``policy``: retries before the first chunk, phase
    timeouts and an overall deadline after it."""
    started = time.monotonic()
    it, first = await _first_chunk(factory, policy, started)
    if first is None:
        return
    try:
        yield first
        while True:
            remaining = policy.deadline - (time.monotonic() - started)
            if remaining <= 0:
                raise CompletionRequestError("The model call exceeded its deadline.")
            try:
                chunk = await _next(it, *_limit(policy.chunk_timeout, remaining, "next chunk"))
            except StopAsyncIteration:
                return
            yield chunk
    finally:
        await _close(it)


async def retrying(call: Callable[[], Awaitable[T]], policy: CallPolicy) -> T:
    """Run a non-streaming call with the same retry rules and deadline as a stream."""
    started = time.monotonic()
    attempt = 0
    while True:
        remaining = policy.deadline - (time.monotonic() - started)
        try:
            return await asyncio.wait_for(call(), timeout=max(0.001, remaining))
        except TimeoutError:
            raise CompletionRequestError("The model call exceeded its deadline.") from None
        except ModelRuntimeError as exc:
            await _back_off(exc, attempt, policy, started)
            attempt += 1
