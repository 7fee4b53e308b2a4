"""The outermost middleware: what every request and every response gets.

- a request id: the client's ``X-Request-Id`` when it is 1 to 128 characters of
  ``[A-Za-z0-9._-]``, otherwise a new uuid4 hex; stored on ``request.state.request_id``
  (the error renderer reads it), in :data:`ore.extensions.logging.request_id_var` (every
  log line of the request carries it) and sent back in ``X-Request-Id``;
- ``X-Process-Time``: seconds from the request's arrival to the start of the response;
- ``X-Version``, ``X-Env`` (matches Dify: every console response carries both) and the
  security headers; a header the application set itself is left as it is;
- one access log line and the Prometheus request metrics, labelled by route template;
- a last-resort 500 for an exception nothing else handled, rendered and logged inside the
  request's context so the log line and the response carry the request id.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Iterable
from typing import Any

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ore.controllers.errors import handle_unexpected
from ore.extensions.logging import ACCESS_LOGGER, request_id_var
from ore.extensions.metrics import UNMATCHED_ROUTE, observe_request

access_logger = logging.getLogger(ACCESS_LOGGER)
logger = logging.getLogger("ore.http")

_VALID_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")

# No scripts, styles, frames or fetches from a JSON or SSE response, ever.
STRICT_CSP = b"default-src 'none'; frame-ancestors 'none'"

Headers = list[tuple[bytes, bytes]]


def request_id_from(headers: Iterable[tuple[bytes, bytes]]) -> str:
    """The client's request id if it is safe to echo and log, else a new one."""
    for name, value in headers:
        if name == b"x-request-id":
            candidate = value.decode("latin-1")
            if _VALID_REQUEST_ID.fullmatch(candidate):
                return candidate
            break
    return uuid.uuid4().hex


def route_template(scope: Scope) -> str:
    """The matched route's path template (``/console/api/apps/{app_id}``), never the raw path.

    FastAPI keeps the route of an included router as it was declared (without the prefix)
    in ``scope["route"]`` and the full template in its effective route context.
    """
    fastapi_scope = scope.get("fastapi")
    if isinstance(fastapi_scope, dict):
        template = getattr(fastapi_scope.get("effective_route_context"), "path_format", None)
        if isinstance(template, str):
            return template
    template = getattr(scope.get("route"), "path_format", None)
    return template if isinstance(template, str) else UNMATCHED_ROUTE


def _with_defaults(headers: Iterable[tuple[bytes, bytes]], defaults: Headers) -> Headers:
    merged = list(headers)
    present = {name.lower() for name, _ in merged}
    merged.extend(item for item in defaults if item[0] not in present)
    return merged


class RequestContextMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        version: str,
        environment: str,
        csp_exempt_paths: Iterable[str] = (),
    ) -> None:
        self.app = app
        self.csp_exempt_paths = frozenset(csp_exempt_paths)
        self.common_headers: Headers = [
            (b"x-version", version.encode("latin-1")),
            (b"x-env", environment.encode("latin-1")),
            (b"x-content-type-options", b"nosniff"),
            (b"x-frame-options", b"DENY"),
            (b"referrer-policy", b"no-referrer"),
        ]
        self.strict_headers: Headers = [
            *self.common_headers,
            (b"content-security-policy", STRICT_CSP),
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        request_id = request_id_from(scope["headers"])
        scope.setdefault("state", {})["request_id"] = request_id
        token = request_id_var.set(request_id)
        # Swagger UI and ReDoc load scripts from a CDN: the strict policy would blank them.
        fixed = (
            self.common_headers if scope["path"] in self.csp_exempt_paths else self.strict_headers
        )
        defaults = [*fixed, (b"x-request-id", request_id.encode("latin-1"))]
        status = 500
        started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal status, started
            if message["type"] == "http.response.start":
                started = True
                status = message["status"]
                headers = _with_defaults(message.get("headers", ()), defaults)
                elapsed = time.perf_counter() - start
                headers.append((b"x-process-time", f"{elapsed:.6f}".encode("latin-1")))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception as error:
            if started:  # too late for an error body: log it here, the server cuts the stream
                logger.exception("error after the response started")
                raise
            response = await handle_unexpected(Request(scope), error)
            await response(scope, receive, send_with_headers)
        finally:
            self._record(scope, status, time.perf_counter() - start)
            request_id_var.reset(token)

    @staticmethod
    def _record(scope: Scope, status: int, seconds: float) -> None:
        method: str = scope["method"]
        route = route_template(scope)
        observe_request(method, route, status, seconds)
        if not access_logger.isEnabledFor(logging.INFO):
            return
        client: Any = scope.get("client")
        client_ip = client[0] if client else "-"
        path: str = scope["path"]  # never the query string: it may carry keys or tokens
        duration_ms = round(seconds * 1000, 2)
        access_logger.info(
            "%s %s %d %.2fms route=%s client=%s",
            method,
            path,
            status,
            duration_ms,
            route,
            client_ip,
            extra={
                "method": method,
                "path": path,
                "route": route,
                "status": status,
                "duration_ms": duration_ms,
                "client_ip": client_ip,
            },
        )
