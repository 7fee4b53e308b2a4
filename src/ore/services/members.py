"""Workspace members: listing, role changes and removal, with Dify's permission rules.

matches Dify: ``TenantService.check_member_permission`` lets owners and admins add members,
and only the owner remove members or change roles; nobody operates on themselves.
Every query filters on the caller's workspace, so an id from another workspace is simply
not found here.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ore.core.errors import Forbidden, InvalidParam, OreError
from ore.models import Account, Invitation, Tenant, TenantAccountJoin, TenantRole
from ore.models.base import utcnow
from ore.services import workspaces

# Roles an invitation or a role change may grant: owner only moves by owner transfer.
ASSIGNABLE_ROLES = frozenset(
    {TenantRole.ADMIN, TenantRole.EDITOR, TenantRole.NORMAL, TenantRole.DATASET_OPERATOR}
)
_CAN_ADD = frozenset({TenantRole.OWNER, TenantRole.ADMIN})
_CAN_REMOVE_OR_UPDATE = frozenset({TenantRole.OWNER})


class HandWrittenError(OreError):
    """An error Dify answers with a hand-written ``{"code", "message"}`` body (no status).

    The error renderer sends ``body()`` as it is, so overriding it is all it takes.
    """

    def body(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, **self.extra}


class InvalidRole(HandWrittenError):
    code = "invalid-role"
    status = 400
    default_message = "Invalid role"


class CannotOperateSelf(HandWrittenError):
    code = "cannot-operate-self"
    status = 400
    default_message = "Cannot operate self."


class NoPermission(HandWrittenError):
    code = "forbidden"
    status = 403
    default_message = "No permission to remove member."


class MemberNotFound(HandWrittenError):
    code = "member-not-found"
    status = 404
    default_message = "Member not in tenant."


@dataclass(frozen=True, slots=True)
class MemberRow:
    """One member of a workspace: the account and its role there."""

    account: Account
    role: TenantRole


def assignable_role(role: object) -> TenantRole:
    """The role named by ``role`` if invitations and role changes may grant it."""
    if isinstance(role, str) and role in ASSIGNABLE_ROLES:
        return TenantRole(role)
    raise InvalidRole()


async def list_members(
    session: AsyncSession, tenant_id: uuid.UUID, *, role: TenantRole | None = None
) -> list[MemberRow]:
    """Members of one workspace (pending invitees included), oldest membership first."""
    query = (
        select(Account, TenantAccountJoin.role)
        .join(TenantAccountJoin, TenantAccountJoin.account_id == Account.id)
        .where(TenantAccountJoin.tenant_id == tenant_id)
        .order_by(TenantAccountJoin.created_at, Account.email)
    )
    if role is not None:
        query = query.where(TenantAccountJoin.role == role)
    rows = await session.execute(query)
    return [MemberRow(account, TenantRole(member_role)) for account, member_role in rows]


async def revoke_open_invitations(
    session: AsyncSession, tenant_id: uuid.UUID, account_id: uuid.UUID
) -> int:
    """Revoke every unused invitation of one account to one workspace; returns how many."""
    result = await session.execute(
        update(Invitation)
        .where(
            Invitation.tenant_id == tenant_id,
            Invitation.account_id == account_id,
            Invitation.accepted_at.is_(None),
            Invitation.revoked_at.is_(None),
        )
        .values(revoked_at=utcnow())
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def remove_member(
    session: AsyncSession,
    tenant: Tenant,
    *,
    operator: Account,
    operator_role: TenantRole,
    member_id: uuid.UUID,
) -> None:
    """Remove a member from ``tenant``, or cancel the invitation of someone not yet in it.

    Checks in Dify's order: self, then permission (owner only), then membership.
    """
    if member_id == operator.id:
        raise CannotOperateSelf()
    if operator_role not in _CAN_REMOVE_OR_UPDATE:
        raise NoPermission("No permission to remove member.")
    join = await workspaces.get_membership(session, tenant.id, member_id)
    revoked = await revoke_open_invitations(session, tenant.id, member_id)
    if join is None:
        if revoked == 0:
            raise MemberNotFound()
        return
    await session.delete(join)
    await session.flush()


async def update_member_role(
    session: AsyncSession,
    tenant: Tenant,
    *,
    operator: Account,
    operator_role: TenantRole,
    member_id: uuid.UUID,
    new_role: str,
) -> None:
    """Change a member's role (owner only; never to or from owner here).

    Service errors are 400 ``invalid_param`` as in Dify's update-role route; a member of
    another workspace is 404 ``member-not-found`` (ore: isolation over Dify's 400).
    """
    role = assignable_role(new_role)
    if member_id == operator.id:
        raise InvalidParam("Cannot operate self.")
    if operator_role not in _CAN_REMOVE_OR_UPDATE:
        raise InvalidParam("No permission to update member.")
    join = await workspaces.get_membership(session, tenant.id, member_id)
    if join is None:
        raise MemberNotFound()
    if join.role == role:
        raise InvalidParam("The provided role is already assigned to the member.")
    if join.role == TenantRole.OWNER:
        # Only an owner transfer may move ownership; it is not offered yet.
        raise InvalidParam("The owner's role can only change by owner transfer.")
    join.role = role
    await session.flush()


def check_can_add_members(role: TenantRole) -> None:
    """Owners and admins may invite; anyone else gets 403 ``forbidden``."""
    if role not in _CAN_ADD:
        raise Forbidden("No permission to add member.")
