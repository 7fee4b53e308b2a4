"""Workspaces (tenants): creation, membership lookup and the current workspace."""

from __future__ import annotations

import uuid

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ore.core.errors import Unauthorized
from ore.models import Account, Tenant, TenantAccountJoin, TenantRole, TenantStatus
from ore.services import signals


class NoWorkspace(Unauthorized):
    code = "unauthorized"
    default_message = (
        "workspace not found, please contact system admin to invite you to join in a workspace"
    )


async def create_workspace(session: AsyncSession, *, name: str, owner: Account) -> Tenant:
    """Create a workspace with ``owner`` as its owner; it becomes current if they have none."""
    tenant = Tenant(name=name)
    session.add(tenant)
    await session.flush()
    has_current = await session.scalar(
        select(TenantAccountJoin.id).where(
            TenantAccountJoin.account_id == owner.id, TenantAccountJoin.current.is_(True)
        )
    )
    session.add(
        TenantAccountJoin(
            tenant_id=tenant.id,
            account_id=owner.id,
            role=TenantRole.OWNER,
            current=has_current is None,
        )
    )
    await session.flush()
    signals.workspace_created.send(tenant, session=session, owner=owner)
    return tenant


async def get_membership(
    session: AsyncSession, tenant_id: uuid.UUID, account_id: uuid.UUID
) -> TenantAccountJoin | None:
    return await session.scalar(
        select(TenantAccountJoin).where(
            TenantAccountJoin.tenant_id == tenant_id,
            TenantAccountJoin.account_id == account_id,
        )
    )


async def current_membership(
    session: AsyncSession, account_id: uuid.UUID
) -> tuple[Tenant, TenantAccountJoin] | None:
    """The account's current workspace; the oldest membership is promoted when none is marked.

    Archived workspaces are skipped (matches Dify: the caller is moved to another workspace).
    """
    rows = (
        await session.execute(
            select(Tenant, TenantAccountJoin)
            .join(TenantAccountJoin, TenantAccountJoin.tenant_id == Tenant.id)
            .where(
                TenantAccountJoin.account_id == account_id,
                Tenant.status == TenantStatus.NORMAL,
            )
            .order_by(TenantAccountJoin.current.desc(), TenantAccountJoin.created_at)
        )
    ).all()
    if not rows:
        return None
    tenant, join = rows[0]
    if not join.current:
        await session.execute(
            update(TenantAccountJoin)
            .where(TenantAccountJoin.account_id == account_id)
            .values(current=False)
        )
        join.current = True
        await session.flush()
    return tenant, join
