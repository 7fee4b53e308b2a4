"""The HTTP middleware stack. All of it is pure ASGI: no layer buffers a response, so SSE
streams pass through event by event.

Order, outermost first, and why:

1. FastAPI's own ServerErrorMiddleware and body-limit layer (always outermost; unused here:
   our request context renders unhandled errors before they get that far).
2. :class:`~ore.controllers.middleware.context.RequestContextMiddleware`: request id,
   ``X-Process-Time``, ``X-Version``/``X-Env``, security headers, access log, metrics and
   the last-resort 500. Outermost of ours so it times everything below and decorates every
   response, including preflights, 413s and 415s made by the layers under it.
3. :class:`~ore.controllers.middleware.cors.SurfaceCORSMiddleware`: answers preflights
   before any body is looked at, and puts CORS headers on every response below it (errors
   included), so a browser can read a 413 or 401.
4. :class:`~ore.controllers.middleware.body.BodyGuardMiddleware`: 413 and 415 before the
   application spends anything on a body it will refuse.
5. Starlette's GZipMiddleware: compresses responses above GZIP_MINIMUM_SIZE when the client
   accepts gzip; never ``text/event-stream`` (Starlette excludes it), so SSE stays live.
6. The custom middleware (CUSTOM_MIDDLEWARE_ENABLED, CUSTOM_MIDDLEWARE_MODULE), innermost:
   it sees a request with an id and bounded body, its responses get every header above,
   and its log lines carry the request id.
7. FastAPI's exception handlers and the router.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import cast

from fastapi import FastAPI
from starlette.middleware.gzip import GZipMiddleware
from starlette.types import ASGIApp

from ore import __version__
from ore.config import ConfigError, Settings
from ore.controllers.middleware.body import BodyGuardMiddleware
from ore.controllers.middleware.context import RequestContextMiddleware
from ore.controllers.middleware.cors import SurfaceCORSMiddleware, parse_origins

MiddlewareFactory = Callable[[ASGIApp], ASGIApp]

# Level 9 costs several times level 6 for a few percent of size.
GZIP_LEVEL = 6


def load_custom_middleware(settings: Settings) -> MiddlewareFactory | None:
    """The factory named by CUSTOM_MIDDLEWARE_MODULE ('package.module:factory'), if enabled.

    Raises :class:`ConfigError` naming the setting when it cannot be loaded, so a typo
    stops the process at startup instead of silently serving without the middleware.
    """
    if not settings.CUSTOM_MIDDLEWARE_ENABLED:
        return None
    spec = settings.CUSTOM_MIDDLEWARE_MODULE.strip()
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise ConfigError(
            f"CUSTOM_MIDDLEWARE_MODULE must look like 'package.module:factory' (got {spec!r}); "
            "set it, or set CUSTOM_MIDDLEWARE_ENABLED=false."
        )
    try:
        module = importlib.import_module(module_name)
    except Exception as error:  # any failure while importing user code is a config error
        raise ConfigError(
            f"CUSTOM_MIDDLEWARE_MODULE={spec!r}: cannot import module {module_name!r} "
            f"({type(error).__name__}: {error})."
        ) from error
    factory = getattr(module, attribute, None)
    if not callable(factory):
        raise ConfigError(
            f"CUSTOM_MIDDLEWARE_MODULE={spec!r}: module {module_name!r} has no callable "
            f"{attribute!r} (a factory that takes the ASGI app and returns an ASGI app)."
        )
    return cast(MiddlewareFactory, factory)


def _csp_exempt_paths(app: FastAPI) -> list[str]:
    paths = (app.docs_url, app.redoc_url, app.swagger_ui_oauth2_redirect_url)
    return [path for path in paths if path]


def largest_upload(settings: Settings) -> int:
    """Bytes of the largest file any upload route may accept."""
    megabytes = max(
        settings.UPLOAD_FILE_SIZE_LIMIT,
        settings.UPLOAD_IMAGE_FILE_SIZE_LIMIT,
        settings.UPLOAD_VIDEO_FILE_SIZE_LIMIT,
        settings.UPLOAD_AUDIO_FILE_SIZE_LIMIT,
    )
    return megabytes * 1024 * 1024


def install_middleware(app: FastAPI, settings: Settings) -> None:
    """Build the stack described above. ``add_middleware`` puts each layer outside the
    previous one, so they are added innermost first."""
    custom = load_custom_middleware(settings)
    if custom is not None:
        app.add_middleware(custom)
    app.add_middleware(
        GZipMiddleware, minimum_size=settings.GZIP_MINIMUM_SIZE, compresslevel=GZIP_LEVEL
    )
    app.add_middleware(
        BodyGuardMiddleware,
        max_body_size=settings.MAX_REQUEST_BODY_SIZE,
        max_upload_size=largest_upload(settings),
    )
    app.add_middleware(
        SurfaceCORSMiddleware,
        console_origins=parse_origins(settings.CONSOLE_CORS_ALLOW_ORIGINS),
        web_origins=parse_origins(settings.WEB_API_CORS_ALLOW_ORIGINS),
    )
    app.add_middleware(
        RequestContextMiddleware,
        version=__version__,
        environment=settings.DEPLOY_ENV,
        csp_exempt_paths=_csp_exempt_paths(app),
    )
