"""The one exception hierarchy of ore.

Every error a client can see is an :class:`OreError` with a stable ``code`` and an HTTP
``status``. Controllers never build error bodies by hand: one handler renders these as
Dify's body ``{"code", "message", "status"}`` (matches Dify: ``libs/external_api.py``),
adding ``extra`` keys where a route's contract names them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar


class OreError(Exception):
    """Base of every client-visible error."""

    code: ClassVar[str] = "unknown"
    status: ClassVar[int] = 500
    default_message: ClassVar[str] = "Internal Server Error"

    def __init__(
        self,
        message: str | None = None,
        *,
        extra: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.message = message or self.default_message
        self.extra: dict[str, Any] = dict(extra or {})
        self.headers: dict[str, str] = dict(headers or {})
        super().__init__(self.message)

    def body(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "status": self.status, **self.extra}


class BadRequest(OreError):
    code = "bad_request"
    status = 400
    default_message = "Bad request."


class InvalidParam(BadRequest):
    code = "invalid_param"
    default_message = "Invalid parameter."


class Unauthorized(OreError):
    code = "unauthorized"
    status = 401
    default_message = "Unauthorized."


class Forbidden(OreError):
    code = "forbidden"
    status = 403
    default_message = "You don't have the permission to access the requested resource."


class NotFound(OreError):
    code = "not_found"
    status = 404
    default_message = "The requested resource was not found."


class Conflict(OreError):
    code = "conflict"
    status = 409
    default_message = "The resource is in a conflicting state."


class PayloadTooLarge(OreError):
    code = "request_entity_too_large"
    status = 413
    default_message = "The request body is too large."


class UnsupportedMediaType(OreError):
    code = "unsupported_media_type"
    status = 415
    default_message = "Send the request body as application/json."


class TooManyRequests(OreError):
    code = "too_many_requests"
    status = 429
    default_message = "Too many requests. Please try again later."

    def __init__(self, message: str | None = None, *, retry_after: int = 1) -> None:
        super().__init__(message, headers={"Retry-After": str(max(1, int(retry_after)))})
        self.retry_after = retry_after


class ServiceUnavailable(OreError):
    code = "service_unavailable"
    status = 503
    default_message = "The service is temporarily unavailable."
