"""Small factories for tests: accounts, workspaces and credentials, made through services."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ore.config import Settings
from ore.extensions.database import Database
from ore.models import Account, Setup, Tenant, TenantAccountJoin, TenantRole
from ore.services import accounts, tokens, workspaces

DEFAULT_PASSWORD = "correct-horse-9"


@dataclass
class Member:
    account: Account
    tenant: Tenant
    headers: dict[str, str]  # Bearer credentials for this account


def bearer_headers(settings: Settings, account_id: uuid.UUID) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens.issue_access_token(settings, account_id)}"}


async def mark_setup(db: Database) -> None:
    async with db.unit_of_work() as session:
        if await session.scalar(select(Setup.version)) is None:
            session.add(Setup(version="test"))


async def create_member(
    settings: Settings,
    *,
    email: str | None = None,
    name: str = "Tester",
    password: str = DEFAULT_PASSWORD,
    workspace_name: str | None = None,
    join: Tenant | None = None,
    role: TenantRole = TenantRole.OWNER,
) -> Member:
    """An active account that owns a new workspace, or joins ``join`` with ``role``."""
    db = Database(settings)
    try:
        await mark_setup(db)
        async with db.unit_of_work() as session:
            account = await accounts.create_account(
                session,
                email=email or f"user-{uuid.uuid4().hex[:10]}@example.com",
                name=name,
                password=password,
            )
            if join is None:
                tenant = await workspaces.create_workspace(
                    session, name=workspace_name or f"{name}'s Workspace", owner=account
                )
            else:
                tenant = join
                session.add(
                    TenantAccountJoin(
                        tenant_id=join.id, account_id=account.id, role=role, current=True
                    )
                )
    finally:
        await db.dispose()
    return Member(account=account, tenant=tenant, headers=bearer_headers(settings, account.id))


@asynccontextmanager
async def db_session(settings: Settings) -> AsyncIterator[AsyncSession]:
    """A unit of work on its own engine, for a test to read or arrange rows directly."""
    db = Database(settings)
    try:
        async with db.unit_of_work() as session:
            yield session
    finally:
        await db.dispose()
