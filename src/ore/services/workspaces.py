"""Workspaces (tenants): creation, membership lookup and the current workspace."""

from __future__ import annotations

import uuid

from sqlalchemy import Select, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ore.core.errors import Forbidden, Unauthorized
from ore.models import Account, Tenant, TenantAccountJoin, TenantRole, TenantStatus
from ore.services import signals


class NoWorkspace(Unauthorized):
    code = "unauthorized"
    default_message = (
        "workspace not found, please contact system admin to invite you to join in a workspace"
    )


class AccountNotLinkTenant(Forbidden):
    """matches Dify: switching to a workspace the caller is not a member of."""

    code = "account_not_link_tenant"
    default_message = "Account not link tenant."


async def create_workspace(session: AsyncSession, *, name: str, owner: Account) -> Tenant:
    """Create a workspace with ``owner`` as its owner; it becomes current if they have none."""
    # Resolved before the new row exists, so an account that already works somewhere
    # keeps its current workspace even if no row was marked yet.
    has_current = await current_membership(session, owner.id) is not None
    tenant = Tenant(name=name)
    session.add(tenant)
    await session.flush()
    session.add(
        TenantAccountJoin(
            tenant_id=tenant.id,
            account_id=owner.id,
            role=TenantRole.OWNER,
            current=not has_current,
        )
    )
    await session.flush()
    signals.workspace_created.send(tenant, session=session, owner=owner)
    return tenant


def _memberships(account_id: uuid.UUID) -> Select[Tenant, TenantAccountJoin]:
    """The account's memberships in normal (not archived) workspaces, with the workspace."""
    return (
        select(Tenant, TenantAccountJoin)
        .join(TenantAccountJoin, TenantAccountJoin.tenant_id == Tenant.id)
        .where(
            TenantAccountJoin.account_id == account_id,
            Tenant.status == TenantStatus.NORMAL,
        )
    )


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
            _memberships(account_id).order_by(
                TenantAccountJoin.current.desc(), TenantAccountJoin.created_at
            )
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


async def list_workspaces(
    session: AsyncSession, account_id: uuid.UUID
) -> list[tuple[Tenant, TenantAccountJoin]]:
    """Every normal (not archived) workspace the account belongs to, oldest membership first.

    Call :func:`current_membership` first so exactly one row carries ``current``.
    """
    rows = await session.execute(
        _memberships(account_id).order_by(TenantAccountJoin.created_at, Tenant.id)
    )
    return [(tenant, join) for tenant, join in rows]


async def switch_workspace(
    session: AsyncSession, account_id: uuid.UUID, tenant_id: str
) -> tuple[Tenant, TenantAccountJoin]:
    """Make ``tenant_id`` the account's current workspace.

    Anything but a normal workspace the account belongs to (unknown id, malformed id, a
    workspace of someone else, an archived one) is the same 403 ``account_not_link_tenant``,
    so the answer never tells whether another workspace exists.
    """
    try:
        wanted = uuid.UUID(tenant_id)
    except ValueError as error:
        raise AccountNotLinkTenant() from error
    row = (await session.execute(_memberships(account_id).where(Tenant.id == wanted))).first()
    if row is None:
        raise AccountNotLinkTenant()
    tenant, join = row
    await make_current(session, account_id, join)
    return tenant, join


async def make_current(
    session: AsyncSession, account_id: uuid.UUID, join: TenantAccountJoin
) -> None:
    """Mark ``join`` as the account's current workspace and no other."""
    await session.execute(
        update(TenantAccountJoin)
        .where(TenantAccountJoin.account_id == account_id, TenantAccountJoin.id != join.id)
        .values(current=False)
    )
    join.current = True
    await session.flush()


async def rename_workspace(session: AsyncSession, tenant: Tenant, name: str) -> Tenant:
    """Rename the caller's workspace; the caller's role is checked by the controller."""
    tenant.name = name
    await session.flush()
    return tenant
