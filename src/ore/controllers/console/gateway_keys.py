"""Workspace keys of the model gateway (ore's own console routes; no Dify counterpart).

Keys spend the workspace's model credentials, so every route needs admin or owner.
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Response

from ore.controllers.console.fields import timestamp
from ore.controllers.deps import AdminWorkspace, SessionDep
from ore.services import gateway_keys

router = APIRouter(tags=["gateway-keys"])

KEYS_PATH = "/workspaces/current/gateway-keys"


@router.post(KEYS_PATH, status_code=201)
async def create_gateway_key(session: SessionDep, scope: AdminWorkspace) -> dict[str, Any]:
    key, token = await gateway_keys.create_gateway_key(
        session, scope.tenant.id, created_by=scope.account.id
    )
    return {"id": str(key.id), "token": token}


@router.get(KEYS_PATH)
async def list_gateway_keys(session: SessionDep, scope: AdminWorkspace) -> dict[str, Any]:
    keys = await gateway_keys.list_gateway_keys(session, scope.tenant.id)
    return {
        "data": [
            {
                "id": str(key.id),
                "token": gateway_keys.masked(key),
                "created_at": timestamp(key.created_at),
                "last_used_at": timestamp(key.last_used_at),
            }
            for key in keys
        ]
    }


@router.delete(KEYS_PATH + "/{key_id:uuid}", status_code=204)
async def revoke_gateway_key(
    key_id: uuid.UUID, session: SessionDep, scope: AdminWorkspace
) -> Response:
    await gateway_keys.revoke_gateway_key(session, scope.tenant.id, key_id)
    return Response(status_code=204)
