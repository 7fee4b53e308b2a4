"""Accounts: creation and lookup."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from ore.models import Account, AccountStatus
from ore.models.base import utcnow
from ore.services import passwords, signals


def normalize_email(email: str) -> str:
    return email.strip().lower()


async def get_account(session: AsyncSession, account_id: uuid.UUID) -> Account | None:
    return await session.get(Account, account_id)


async def get_account_by_email(session: AsyncSession, email: str) -> Account | None:
    result = await session.execute(
        select(Account).where(func.lower(Account.email) == normalize_email(email))
    )
    return result.scalar_one_or_none()


async def create_account(
    session: AsyncSession,
    *,
    email: str,
    name: str,
    password: str | None = None,
    status: AccountStatus = AccountStatus.ACTIVE,
    interface_language: str = "en-US",
    timezone: str = "UTC",
) -> Account:
    account = Account(
        email=normalize_email(email),
        name=name,
        password_hash=await passwords.hash_password(password) if password else None,
        status=status,
        interface_language=interface_language,
        timezone=timezone,
        initialized_at=utcnow() if status == AccountStatus.ACTIVE else None,
    )
    session.add(account)
    await session.flush()
    signals.account_created.send(account, session=session)
    return account
