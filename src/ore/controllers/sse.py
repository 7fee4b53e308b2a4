"""Server-sent events as Dify frames them (DESIGN.md §5, spec dify-service-api.md §6).

Each event is ``data: `` + compact JSON (raw UTF-8, ``ensure_ascii=False``) + a blank line;
the keep-alive is the bare frame ``event: ping`` sent after ``interval`` seconds in which
no event came.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from typing import Any

from starlette.responses import StreamingResponse

PING = b"event: ping\n\n"
MEDIA_TYPE = "text/event-stream"
# Proxies (nginx) must pass each frame on at once instead of buffering the stream.
HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def frame(payload: Mapping[str, Any]) -> bytes:
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    return f"data: {body}\n\n".encode()


def event_stream(frames: AsyncIterator[bytes]) -> StreamingResponse:
    return StreamingResponse(frames, media_type=MEDIA_TYPE, headers=HEADERS)
