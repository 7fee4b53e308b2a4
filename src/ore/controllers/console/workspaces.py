"""Workspaces (tenants): list, create, current, switch and rename (console spec section 5)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter
from pydantic import BaseModel, StringConstraints

from ore.controllers.console.fields import timestamp
from ore.controllers.deps import AdminWorkspace, CurrentAccount, CurrentWorkspace, SessionDep
from ore.models import Tenant, TenantRole
from ore.services import workspaces

router = APIRouter(tags=["workspaces"])

# Self-hosted with billing off: Dify reports every workspace on the free plan in this list.
LIST_PLAN = "sandbox"

# A NUL byte is refused: PostgreSQL text cannot hold it.
NO_NUL = r"^[^\x00]*$"
WorkspaceName = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255, pattern=NO_NUL)
]


class WorkspaceCreate(BaseModel):
    name: WorkspaceName


class WorkspaceRename(BaseModel):
    name: WorkspaceName


class WorkspaceSwitch(BaseModel):
    tenant_id: str


def tenant_info(tenant: Tenant, role: TenantRole | str) -> dict[str, Any]:
    """The tenant object of ``POST /workspaces/current`` and friends.

    ``custom_config`` stays null: logo replacement is an enterprise feature Dify offers only
    when ``can_replace_logo`` is on, and the trial and credit keys are cloud-only.
    """
    return {
        "id": str(tenant.id),
        "name": tenant.name,
        "plan": tenant.plan,
        "status": tenant.status,
        "created_at": timestamp(tenant.created_at),
        "role": str(role),
        "in_trial": None,
        "trial_end_reason": None,
        "custom_config": None,
        "trial_credits": None,
        "trial_credits_used": None,
        "next_credit_reset_date": None,
    }


@router.get("/workspaces")
async def list_workspaces(session: SessionDep, account: CurrentAccount) -> dict[str, Any]:
    current = await workspaces.current_membership(session, account.id)
    current_id = current[0].id if current is not None else None
    rows = await workspaces.list_workspaces(session, account.id)
    return {
        "workspaces": [
            {
                "id": str(tenant.id),
                "name": tenant.name,
                "plan": LIST_PLAN,
                "status": tenant.status,
                "created_at": timestamp(tenant.created_at),
                "current": tenant.id == current_id,
            }
            for tenant, _ in rows
        ]
    }


@router.post("/workspaces", status_code=201)
async def create_workspace(
    payload: WorkspaceCreate, session: SessionDep, account: CurrentAccount
) -> dict[str, Any]:
    """ore addition: any signed-in account may start a workspace it then owns."""
    tenant = await workspaces.create_workspace(session, name=payload.name, owner=account)
    return tenant_info(tenant, TenantRole.OWNER)


@router.post("/workspaces/current")
@router.post("/info", deprecated=True)
async def current_workspace(scope: CurrentWorkspace) -> dict[str, Any]:
    return tenant_info(scope.tenant, scope.role)


@router.post("/workspaces/switch")
async def switch_workspace(
    payload: WorkspaceSwitch, session: SessionDep, account: CurrentAccount
) -> dict[str, Any]:
    tenant, join = await workspaces.switch_workspace(session, account.id, payload.tenant_id)
    return {"result": "success", "new_tenant": tenant_info(tenant, join.role)}


@router.post("/workspaces/info")
async def rename_workspace(
    payload: WorkspaceRename, session: SessionDep, scope: AdminWorkspace
) -> dict[str, Any]:
    tenant = await workspaces.rename_workspace(session, scope.tenant, payload.name)
    return {"result": "success", "tenant": tenant_info(tenant, scope.role)}
