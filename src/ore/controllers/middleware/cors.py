"""CORS per API surface, as Dify configures one policy per blueprint.

- ``/console/api``: CONSOLE_CORS_ALLOW_ORIGINS, credentials allowed (cookie sessions).
- ``/api`` (web apps): WEB_API_CORS_ALLOW_ORIGINS, credentials allowed (passport cookies).
- ``/v1`` (Service API and OpenAI-compatible API): WEB_API_CORS_ALLOW_ORIGINS, no
  credentials: callers authenticate with keys, never with ambient cookies.
- anything else (``/health``, ``/metrics``, ``/docs``): no CORS headers.

With credentials and ``*`` the request's own origin is echoed back, because browsers refuse
``Access-Control-Allow-Origin: *`` on credentialed requests.
"""

from __future__ import annotations

from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

ALLOWED_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
ALLOWED_HEADERS = (
    "Content-Type",
    "Authorization",
    "X-CSRF-Token",
    "X-App-Code",
    "X-App-Passport",
    "X-Request-Id",
)
EXPOSED_HEADERS = ("X-Version", "X-Env", "X-Trace-Id", "X-Request-Id")
PREFLIGHT_MAX_AGE = 600


def parse_origins(value: str) -> list[str]:
    return [origin.strip() for origin in value.split(",") if origin.strip()]


def _is_under(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith(prefix + "/")


class SurfaceCORSMiddleware:
    def __init__(self, app: ASGIApp, *, console_origins: list[str], web_origins: list[str]) -> None:
        self.app = app
        self.console = self._policy(app, console_origins, credentials=True)
        self.web = self._policy(app, web_origins, credentials=True)
        self.service = self._policy(app, web_origins, credentials=False)

    @staticmethod
    def _policy(app: ASGIApp, origins: list[str], *, credentials: bool) -> CORSMiddleware:
        return CORSMiddleware(
            app,
            allow_origins=origins,
            allow_methods=ALLOWED_METHODS,
            allow_headers=ALLOWED_HEADERS,
            allow_credentials=credentials,
            expose_headers=EXPOSED_HEADERS,
            max_age=PREFLIGHT_MAX_AGE,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path: str = scope["path"]
            if _is_under(path, "/console/api"):
                await self.console(scope, receive, send)
                return
            if _is_under(path, "/api"):
                await self.web(scope, receive, send)
                return
            if _is_under(path, "/v1"):
                await self.service(scope, receive, send)
                return
        await self.app(scope, receive, send)
