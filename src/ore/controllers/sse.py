"""Server-sent events as Dify frames them (DESIGN.md §5, spec dify-service-api.md §6).

Each event is ``data: `` + compact JSON (raw UTF-8, ``ensure_ascii=False``) + a blank line;
the keep-alive is the bare frame ``event: ping`` sent after ``interval`` seconds in which
no event came.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Mapping
from contextlib import suppress
from typing import Any, TypeVar

from starlette.responses import StreamingResponse

T = TypeVar("T")

PING = b"event: ping\n\n"
MEDIA_TYPE = "text/event-stream"
# Proxies (nginx) must pass each frame on at once instead of buffering the stream.
HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def frame(payload: Mapping[str, Any]) -> bytes:
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    return f"data: {body}\n\n".encode()


async def with_keepalive(items: AsyncIterator[T], interval: float) -> AsyncIterator[T | None]:
    """``items``, with None after every ``interval`` seconds of silence (a ping is due).

    The pending read is never cancelled by the timer, only when the consumer leaves."""
    pending: asyncio.Future[T] | None = None
    try:
        while True:
            if pending is None:
                pending = asyncio.ensure_future(anext(items))
            done, _ = await asyncio.wait((pending,), timeout=interval)
            if not done:
                yield None
                continue
            finished, pending = pending, None
            try:
                item = finished.result()
            except StopAsyncIteration:
                return
            yield item
    finally:
        if pending is not None:
            pending.cancel()
            with suppress(asyncio.CancelledError, StopAsyncIteration, Exception):
                await pending


def event_stream(frames: AsyncIterator[bytes]) -> StreamingResponse:
    return StreamingResponse(frames, media_type=MEDIA_TYPE, headers=HEADERS)
