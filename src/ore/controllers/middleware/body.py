"""Request bodies: 413 above MAX_REQUEST_BODY_SIZE, 415 for a body the route cannot parse.

Size. A ``Content-Length`` above the limit is answered at once, before the body is read. A
body without one (chunked, or HTTP/2) is counted while the application reads it, and the
read that crosses the limit fails with 413. Nothing is buffered here.

Media type. The rule comes from the matched route (FastAPI's ``body_field``), checked when
the first non-empty chunk of the body is read:

- a route with a JSON body parameter takes ``application/json`` or
  ``application/<anything>+json``; any other body is 415 ``unsupported_media_type``;
- a route with ``Form``/``File`` parameters (uploads) is exempt: form parsing decides;
- a route that declares no body parameter is exempt: it either ignores the body or reads
  ``request`` itself and decides for itself.

A request without a body is never refused.

Both errors are raised from ``receive`` as Starlette ``HTTPException`` subclasses, because
FastAPI passes those through its body parsing untouched (it turns any other exception into
a 400); the application's error handler then renders them with the status's standard code
and the :mod:`ore.core.errors` message, exactly like the errors themselves would be.
"""

from __future__ import annotations

from fastapi import params
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ore.controllers.errors import handle_ore_error
from ore.core.errors import OreError, PayloadTooLarge, UnsupportedMediaType


class BodyRejected(HTTPException):
    """Raised from ``receive``; carries the ore error it stands for."""

    def __init__(self, error: OreError) -> None:
        super().__init__(status_code=error.status, detail=error.message)
        self.error = error


def media_type(content_type: str) -> str:
    return content_type.partition(";")[0].strip().lower()


def is_json(media: str) -> bool:
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


def check_media_type(scope: Scope, media: str) -> None:
    """Raise 415 unless the matched route can parse a body of this media type."""
    body_field = getattr(scope.get("route"), "body_field", None)
    if body_field is None or is_json(media):
        return
    if isinstance(body_field.field_info, params.Form):  # File is a Form too
        return
    raise BodyRejected(UnsupportedMediaType())


def _body_headers(scope: Scope) -> tuple[int | None, bool, str]:
    """Content-Length (None when absent or invalid), Transfer-Encoding present, Content-Type."""
    length: int | None = None
    chunked = False
    content_type = ""
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                length = int(value)
            except ValueError:
                length = None
        elif name == b"transfer-encoding":
            chunked = True
        elif name == b"content-type":
            content_type = value.decode("latin-1")
    return length, chunked, content_type


def _has_no_body(scope: Scope, length: int | None, chunked: bool) -> bool:
    if length == 0:
        return True
    # HTTP/1.x has a body only with Content-Length or Transfer-Encoding (RFC 9112 6.3);
    # HTTP/2 frames need neither, so there the body is counted as it comes.
    return length is None and not chunked and scope.get("http_version", "1.1").startswith("1")


# File uploads may be larger than other bodies; their routes check each file against the
# limit of its kind (UPLOAD_*_SIZE_LIMIT) and answer 413 file_too_large themselves.
UPLOAD_PATH_SUFFIXES = ("/files/upload",)
MULTIPART_OVERHEAD = 64 * 1024


class BodyGuardMiddleware:
    def __init__(self, app: ASGIApp, *, max_body_size: int, max_upload_size: int = 0) -> None:
        self.app = app
        self.max_body_size = max_body_size
        self.max_upload_size = max(max_body_size, max_upload_size + MULTIPART_OVERHEAD)

    def limit_for(self, scope: Scope) -> int:
        path: str = scope.get("path", "")
        return self.max_upload_size if path.endswith(UPLOAD_PATH_SUFFIXES) else self.max_body_size

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length, chunked, content_type = _body_headers(scope)
        limit = self.limit_for(scope)
        if length is not None and length > limit:
            await self._reject(scope, receive, send, PayloadTooLarge())
            return
        media = media_type(content_type)
        if _has_no_body(scope, length, chunked) or (length is not None and is_json(media)):
            # No body, or a declared JSON body within the limit: the server enforces
            # Content-Length framing, so nothing is left to check (the fast path).
            await self.app(scope, receive, send)
            return
        await self._guarded(scope, receive, send, media, limit)

    async def _guarded(
        self, scope: Scope, receive: Receive, send: Send, media: str, limit: int
    ) -> None:
        received = 0
        checked = False
        started = False

        async def receive_within_limits() -> Message:
            nonlocal received, checked
            message = await receive()
            if message["type"] == "http.request":
                chunk = message.get("body", b"")
                if chunk and not checked:
                    checked = True
                    check_media_type(scope, media)
                received += len(chunk)
                if received > limit:
                    raise BodyRejected(PayloadTooLarge())
            return message

        async def send_tracking(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive_within_limits, send_tracking)
        except BodyRejected as rejected:
            # Only reached when something read the body outside FastAPI's parsing and let
            # the error escape; FastAPI's own parsing hands it to the error handler.
            if started:
                raise
            await self._reject(scope, receive, send, rejected.error)

    @staticmethod
    async def _reject(scope: Scope, receive: Receive, send: Send, error: OreError) -> None:
        response = await handle_ore_error(Request(scope), error)
        await response(scope, receive, send)
