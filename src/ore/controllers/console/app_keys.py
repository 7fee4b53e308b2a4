"""Service API keys of an app (console spec section 8, "App API keys").

Errors here keep Dify's abort shape (``{"message"}``, plus ``custom`` for the limit). The
list shows keys masked: ore keeps only their digests (DESIGN.md section 5).
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Response
from sqlalchemy.ext.asyncio import AsyncSession

from ore.controllers.console.fields import timestamp
from ore.controllers.deps import AdminWorkspace, CurrentWorkspace, EditorWorkspace, SessionDep
from ore.models import App, AppApiKey
from ore.services import app_keys, apps

router = APIRouter(tags=["app-api-keys"])

KEYS_PATH = "/apps/{app_id:uuid}/api-keys"


def key_out(key: AppApiKey, token: str) -> dict[str, Any]:
    return {
        "id": str(key.id),
        "type": "app",
        "token": token,
        "last_used_at": timestamp(key.last_used_at),
        "created_at": timestamp(key.created_at),
    }


async def _app(session: AsyncSession, tenant_id: uuid.UUID, app_id: uuid.UUID) -> App:
    app = await apps.find_app(session, tenant_id, app_id)
    if app is None:
        raise app_keys.ApiKeyAppNotFound()
    return app


@router.get(KEYS_PATH)
async def list_app_keys(
    app_id: uuid.UUID, session: SessionDep, scope: CurrentWorkspace
) -> dict[str, Any]:
    app = await _app(session, scope.tenant.id, app_id)
    keys = await app_keys.list_app_keys(session, app)
    return {"data": [key_out(key, app_keys.masked(key)) for key in keys]}


@router.post(KEYS_PATH, status_code=201)
async def create_app_key(
    app_id: uuid.UUID, session: SessionDep, scope: EditorWorkspace
) -> dict[str, Any]:
    app = await _app(session, scope.tenant.id, app_id)
    key, token = await app_keys.create_app_key(session, app, created_by=scope.account.id)
    return key_out(key, token)


@router.delete(KEYS_PATH + "/{key_id:uuid}", status_code=204)
async def delete_app_key(
    app_id: uuid.UUID, key_id: uuid.UUID, session: SessionDep, scope: AdminWorkspace
) -> Response:
    app = await _app(session, scope.tenant.id, app_id)
    await app_keys.delete_app_key(session, app, key_id)
    return Response(status_code=204)
