"""Renders every error as Dify's body ``{"code", "message", "status"}``.

On the OpenAI-compatible routes the body is OpenAI's ``{"error": {...}}`` instead, so the
``openai`` SDK raises the matching exception. Stack traces never reach a body.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import StatementError
from starlette.exceptions import HTTPException as StarletteHTTPException

from ore.controllers.openai_wire import error_body as openai_body
from ore.core.errors import OreError

logger = logging.getLogger("ore.errors")

OPENAI_PATHS = ("/v1/chat/completions", "/v1/embeddings", "/v1/models")
_STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "request_entity_too_large",
    415: "unsupported_media_type",
    429: "too_many_requests",
}
INVALID_JSON_MESSAGE = "Invalid JSON payload received or JSON payload is empty."


def request_id_of(request: Request) -> str | None:
    value = getattr(request.state, "request_id", None)
    return value if isinstance(value, str) else None


def error_response(
    request: Request,
    *,
    status: int,
    code: str,
    message: str,
    body: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
    param: str | None = None,
) -> JSONResponse:
    """The one place an error becomes a response; ``body`` overrides Dify's default shape.

    ``param`` names the offending parameter in OpenAI's body (ignored in Dify's)."""
    headers = dict(headers or {})
    if status == 401:
        headers.setdefault("WWW-Authenticate", 'Bearer realm="api"')
    request_id = request_id_of(request)
    if request_id:
        headers.setdefault("X-Request-Id", request_id)
    if request.url.path.startswith(OPENAI_PATHS):
        content = openai_body(status, code, message, param)
    else:
        content = body if body is not None else {"code": code, "message": message, "status": status}
    if status >= 500 and request_id:
        content.setdefault("request_id", request_id)
    return JSONResponse(content, status_code=status, headers=headers)


async def handle_ore_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, OreError)
    if error.status >= 500:
        logger.error("request failed: %s %s", error.code, error.message)
    return error_response(
        request,
        status=error.status,
        code=error.code,
        message=error.message,
        body=error.body(),
        headers=error.headers,
        param=getattr(error, "parameter", None),
    )


def _is_json_body_error(item: Any) -> bool:
    loc = item.get("loc") or ()
    if item.get("type") == "json_invalid":
        return True
    # A required body that is absent altogether: Dify answers bad_request for that too.
    return item.get("type") == "missing" and tuple(loc) == ("body",)


def _where(item: Any) -> str:
    """A failing field's dotted path without FastAPI's ``body``/``query``/``path`` root."""
    loc = [str(part) for part in item.get("loc", ()) if part not in ("body", "query", "path")]
    return ".".join(loc)


def _describe(errors: list[Any]) -> str:
    parts = [f"{_where(item) or 'request'}: {item.get('msg', 'invalid')}" for item in errors]
    return "; ".join(parts) or "Invalid parameter."


def _first_param(errors: list[Any]) -> str | None:
    """The first failing field, as OpenAI's ``param`` names it (``messages.0.role``)."""
    return next((where for where in map(_where, errors) if where), None)


async def handle_validation_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    errors = list(error.errors())
    if any(_is_json_body_error(item) for item in errors):
        return error_response(request, status=400, code="bad_request", message=INVALID_JSON_MESSAGE)
    return error_response(
        request,
        status=400,
        code="invalid_param",
        message=_describe(errors),
        param=_first_param(errors),
    )


async def handle_http_exception(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, StarletteHTTPException)
    status = error.status_code
    code = _STATUS_CODES.get(status, "unknown" if status >= 500 else "bad_request")
    message = str(error.detail) if error.detail else code.replace("_", " ").capitalize()
    if status == 404 and error.detail == "Not Found":
        message = "The requested URL was not found on the server."
    return error_response(
        request, status=status, code=code, message=message, headers=dict(error.headers or {})
    )


async def handle_statement_error(request: Request, error: Exception) -> JSONResponse:
    """SQLAlchemy wraps what a bind processor raised (the JSON guard's 400): unwrap it."""
    assert isinstance(error, StatementError)
    if isinstance(error.orig, OreError):
        return await handle_ore_error(request, error.orig)
    return await handle_unexpected(request, error)


async def handle_unexpected(request: Request, error: Exception) -> JSONResponse:
    logger.exception("unhandled error on %s %s", request.method, request.url.path)
    return error_response(request, status=500, code="unknown", message="Internal Server Error")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(OreError, handle_ore_error)
    app.add_exception_handler(RequestValidationError, handle_validation_error)
    app.add_exception_handler(StarletteHTTPException, handle_http_exception)
    app.add_exception_handler(StatementError, handle_statement_error)
    app.add_exception_handler(Exception, handle_unexpected)
