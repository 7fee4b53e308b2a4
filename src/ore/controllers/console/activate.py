"""Accepting an invitation (console spec section 4, "Invited members").

No login: the invitation token is the credential, as in Dify.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field, StringConstraints

from ore.controllers.console.workspaces import NO_NUL
from ore.controllers.deps import SessionDep, require_setup
from ore.services import invitations

router = APIRouter(tags=["members"])


class ActivatePayload(BaseModel):
    token: str
    email: str | None = None
    workspace_id: str | None = None
    name: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=30, pattern=NO_NUL)
    ]
    interface_language: str
    timezone: str
    # ore addition: lets an invited user sign in with a password later.
    password: str | None = Field(default=None, max_length=256)


@router.get("/activate/check")
async def check_invitation(
    session: SessionDep,
    token: str,
    email: str | None = None,
    workspace_id: str | None = None,
) -> dict[str, Any]:
    found = await invitations.find_open_invitation(
        session, token, email=email, workspace_id=workspace_id
    )
    if found is None:
        return {"is_valid": False}
    return {
        "is_valid": True,
        "data": {
            "workspace_name": found.tenant.name,
            "workspace_id": str(found.tenant.id),
            "email": found.invitation.email,
        },
    }


@router.post("/activate", dependencies=[Depends(require_setup)])
async def activate(payload: ActivatePayload, session: SessionDep) -> dict[str, str]:
    await invitations.activate(
        session,
        invitations.Activation(
            token=payload.token,
            email=payload.email,
            workspace_id=payload.workspace_id,
            name=payload.name,
            interface_language=payload.interface_language,
            timezone=payload.timezone,
            password=payload.password,
        ),
    )
    return {"result": "success"}
