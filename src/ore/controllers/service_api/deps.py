"""The Service API's caller: an app key (``Authorization: Bearer app-…``).

Errors are Dify's (spec dify-service-api.md §1): 401 for a missing, malformed or unknown
key; 403 ``forbidden`` for an app that is gone, abnormal or API-disabled, or an archived
workspace. ``ServiceApp`` shares the request's unit of work; ``StreamingApp`` reads the app
in a read-only unit of its own and hands back a detached row, for handlers that stream and
so must not hold a session open (ore.extensions.staged).
"""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from ore.controllers.deps import ContextDep, SessionDep
from ore.core.errors import Forbidden, TooManyRequests, Unauthorized
from ore.extensions.context import OreContext
from ore.models import Tenant
from ore.models.app import App, AppStatus
from ore.services import app_keys

_SCHEME = re.compile(r"\s+")


class KeyUnauthorized(Unauthorized):
    def __init__(self, message: str) -> None:
        super().__init__(message, headers={"WWW-Authenticate": 'Bearer realm="api"'})


def api_token(request: Request) -> str:
    """The bearer token, with Dify's 401 messages for each way the header can be wrong."""
    header = request.headers.get("Authorization")
    if not header or " " not in header.strip():
        raise KeyUnauthorized("Authorization header must be provided and start with 'Bearer'")
    scheme, token = _SCHEME.split(header.strip(), maxsplit=1)
    if scheme.lower() != "bearer":
        raise KeyUnauthorized("Authorization scheme must be 'Bearer'")
    return token.strip()


async def _checked_app(context: OreContext, session: AsyncSession, token: str) -> App:
    return await _checked(context, token, await app_keys.authenticate_app_key(session, token))


async def _checked(context: OreContext, token: str, found: tuple[App, Tenant] | None) -> App:
    if found is None:
        raise KeyUnauthorized("Access token is invalid")
    app, tenant = found
    if app.status != AppStatus.NORMAL:
        raise Forbidden("The app's status is abnormal.")
    if not app.enable_api:
        raise Forbidden("The app's API service has been disabled.")
    if tenant.status == "archive":
        raise Forbidden("The workspace's status is archived.")
    limit = context.settings.APP_API_RATE_LIMIT
    if limit:
        verdict = await context.kv.hit(f"app-key:{token[-8:]}:{app.id}", limit=limit, window=60)
        if not verdict.allowed:
            raise TooManyRequests(retry_after=int(verdict.retry_after) + 1)
    return app


async def service_app(request: Request, context: ContextDep, session: SessionDep) -> App:
    return await _checked_app(context, session, api_token(request))


async def streaming_app(request: Request, context: ContextDep) -> App:
    """The key is looked up in a read-only unit (on SQLite it never queues behind writers);
    the rare ``last_used_at`` write, at most once a minute a key, gets a unit of its own."""
    token = api_token(request)
    async with context.db.read_only() as session:
        found = await app_keys.find_app_key(session, token)
    if found is None:
        return await _checked(context, token, None)
    key, app, tenant = found
    if app_keys.use_is_due(key):
        async with context.db.unit_of_work() as session:
            await app_keys.record_use(session, key.id)
    return await _checked(context, token, (app, tenant))


ServiceApp = Annotated[App, Depends(service_app)]
StreamingApp = Annotated[App, Depends(streaming_app)]
