"""Workspace members and invitations (console spec section 6)."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from ore.controllers.console.fields import avatar_url, timestamp
from ore.controllers.deps import CurrentWorkspace, SessionDep, SettingsDep
from ore.models import Account, TenantRole
from ore.services import invitations, members

router = APIRouter(tags=["members"])

MEMBER_PATH = "/workspaces/current/members/{member_id:uuid}"


class MemberInvite(BaseModel):
    emails: list[str] = Field(max_length=100)
    role: str
    language: str | None = None


class MemberRoleUpdate(BaseModel):
    role: str


def member_info(account: Account, role: TenantRole) -> dict[str, Any]:
    return {
        "id": str(account.id),
        "name": account.name,
        "avatar": account.avatar,
        "avatar_url": avatar_url(account.avatar),
        "email": account.email,
        "last_login_at": timestamp(account.last_login_at),
        "last_active_at": timestamp(account.last_active_at),
        "created_at": timestamp(account.created_at),
        "role": str(role),
        "status": account.status,
    }


@router.get("/workspaces/current/members")
async def list_members(session: SessionDep, scope: CurrentWorkspace) -> dict[str, Any]:
    rows = await members.list_members(session, scope.tenant.id)
    # Both keys: 1.13 sends only "accounts", up to 1.9 also "result".
    return {"result": "success", "accounts": [member_info(r.account, r.role) for r in rows]}


@router.get("/workspaces/current/dataset-operators")
async def list_dataset_operators(session: SessionDep, scope: CurrentWorkspace) -> dict[str, Any]:
    rows = await members.list_members(session, scope.tenant.id, role=TenantRole.DATASET_OPERATOR)
    return {"result": "success", "accounts": [member_info(r.account, r.role) for r in rows]}


@router.post("/workspaces/current/members/invite-email", status_code=201)
async def invite_members(
    payload: MemberInvite, session: SessionDep, settings: SettingsDep, scope: CurrentWorkspace
) -> dict[str, Any]:
    results = await invitations.invite_members(
        session,
        scope.tenant,
        inviter=scope.account,
        inviter_role=scope.role,
        emails=payload.emails,
        role=payload.role,
        language=payload.language,
        links=invitations.InvitationLinks(settings.CONSOLE_WEB_URL),
        expiry_hours=settings.INVITE_EXPIRY_HOURS,
    )
    return {
        "result": "success",
        "invitation_results": [
            {
                key: value
                for key, value in (
                    ("status", result.status),
                    ("email", result.email),
                    ("url", result.url),
                    ("message", result.message),
                )
                if value is not None
            }
            for result in results
        ],
        "tenant_id": str(scope.tenant.id),
    }


@router.put(f"{MEMBER_PATH}/update-role")
async def update_member_role(
    member_id: uuid.UUID,
    payload: MemberRoleUpdate,
    session: SessionDep,
    scope: CurrentWorkspace,
) -> dict[str, Any]:
    await members.update_member_role(
        session,
        scope.tenant,
        operator=scope.account,
        operator_role=scope.role,
        member_id=member_id,
        new_role=payload.role,
    )
    return {"result": "success"}


@router.delete(MEMBER_PATH)
async def remove_member(
    member_id: uuid.UUID, session: SessionDep, scope: CurrentWorkspace
) -> dict[str, Any]:
    await members.remove_member(
        session,
        scope.tenant,
        operator=scope.account,
        operator_role=scope.role,
        member_id=member_id,
    )
    return {"result": "success", "tenant_id": str(scope.tenant.id)}
