"""First-run setup: the first administrator, their workspace and the setup marker.

matches Dify: ``POST /console/api/setup`` (``RegisterService.setup``). The CLI's ``ore init``
calls the same function, so both paths apply the same rules.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from ore import __version__
from ore.core.errors import Forbidden, InvalidParam
from ore.models import Account, Setup, Tenant
from ore.services import accounts, passwords, workspaces

SETUP_NAME_MAX_LENGTH = 30


class AlreadySetup(Forbidden):
    code = "already_setup"
    default_message = (
        "Dify has been successfully installed. Please refresh the page or return to the "
        "dashboard homepage."
    )


async def setup_status(session: AsyncSession) -> datetime | None:
    """When setup finished, or ``None`` while it has not."""
    return await session.scalar(select(Setup.setup_at).order_by(Setup.setup_at).limit(1))


async def is_setup(session: AsyncSession) -> bool:
    """Setup counts as done once the marker row or any workspace exists (as in Dify)."""
    if await setup_status(session) is not None:
        return True
    return await session.scalar(select(Tenant.id).limit(1)) is not None


async def create_first_admin(
    session: AsyncSession,
    *,
    email: str,
    name: str,
    password: str,
    workspace_name: str | None = None,
    language: str | None = None,
) -> Account:
    """Create the first active account, the workspace it owns and the setup marker.

    Refuses with 403 ``already_setup`` once setup is done. The setup row is written first:
    two racing setups then collide on its primary key and the loser is refused too.
    """
    if await is_setup(session):
        raise AlreadySetup()
    normalized_email = accounts.check_email(email)
    name = name.strip()
    if not name or len(name) > SETUP_NAME_MAX_LENGTH:
        raise InvalidParam(f"Name must be between 1 and {SETUP_NAME_MAX_LENGTH} characters.")
    passwords.check_password_policy(password)
    # Lenient like Dify: an unknown language falls back to the default instead of failing.
    interface_language = language if language in accounts.SUPPORTED_LANGUAGES else "en-US"

    session.add(Setup(version=__version__[:32]))
    try:
        await session.flush()
    except IntegrityError as error:
        raise AlreadySetup() from error
    account = await accounts.create_account(
        session,
        email=normalized_email,
        name=name,
        password=password,
        interface_language=interface_language,
    )
    await workspaces.create_workspace(
        session, name=(workspace_name or "").strip() or f"{name}'s Workspace", owner=account
    )
    return account
