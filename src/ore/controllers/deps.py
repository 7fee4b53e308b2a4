"""Dependencies shared by every console handler: context, session, caller, workspace.

``SessionDep`` is the request's unit of work. It uses FastAPI's function scope so the
commit happens before the response is sent: a client never sees success for a write that
then failed to commit.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ore.config import Settings
from ore.controllers.cookies import ACCESS_COOKIE, CSRF_COOKIE, CSRF_HEADER, read_cookie
from ore.core.errors import BadRequest, Forbidden, Unauthorized
from ore.extensions.context import OreContext
from ore.models import Account, AccountStatus, Tenant, TenantAccountJoin, TenantRole
from ore.services import accounts, setup, tokens, workspaces


def get_context(request: Request) -> OreContext:
    context: OreContext = request.app.state.ore
    return context


ContextDep = Annotated[OreContext, Depends(get_context)]


def get_settings(context: ContextDep) -> Settings:
    return context.settings


SettingsDep = Annotated[Settings, Depends(get_settings)]


async def get_session(context: ContextDep) -> AsyncIterator[AsyncSession]:
    async with context.db.unit_of_work() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]


class NotSetup(Unauthorized):
    code = "not_setup"
    default_message = "Dify has not been setup yet, please setup first."


class CsrfInvalid(Unauthorized):
    default_message = "CSRF token is missing or invalid."


class AccountNotInitialized(BadRequest):
    code = "account_not_initialized"
    default_message = "The account has not been initialized yet."


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


async def require_setup(request: Request, session: SessionDep) -> None:
    # Setup cannot be undone, so once seen it is remembered for the life of the process:
    # authenticated requests then skip this query (each statement costs on SQLite).
    if getattr(request.app.state, "setup_done", False):
        return
    if not await setup.is_setup(session):
        raise NotSetup()
    request.app.state.setup_done = True


def bearer_token(request: Request) -> str | None:
    """The token of an ``Authorization: Bearer`` header (scheme case-insensitive)."""
    return _bearer(request)


def _bearer(request: Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None


@dataclass(frozen=True, slots=True)
class Caller:
    """The authenticated account and, for admin-key calls, the workspace it acts in."""

    account: Account
    via_cookie: bool
    admin_workspace_id: uuid.UUID | None = None


async def _admin_key_caller(
    request: Request, session: AsyncSession, settings: Settings, bearer: str
) -> Caller | None:
    if not (settings.ADMIN_API_KEY_ENABLE and settings.ADMIN_API_KEY):
        return None
    import hmac

    if not hmac.compare_digest(bearer.encode(), settings.ADMIN_API_KEY.encode()):
        return None
    try:
        workspace_id = uuid.UUID(request.headers.get("X-WORKSPACE-ID", ""))
    except ValueError as error:
        raise Unauthorized("X-WORKSPACE-ID header is missing or invalid.") from error
    owner = await session.scalar(
        select(Account)
        .join(TenantAccountJoin, TenantAccountJoin.account_id == Account.id)
        .where(
            TenantAccountJoin.tenant_id == workspace_id,
            TenantAccountJoin.role == TenantRole.OWNER,
        )
    )
    if owner is None:
        raise Unauthorized("Workspace not found for the admin API key.")
    return Caller(account=owner, via_cookie=False, admin_workspace_id=workspace_id)


async def get_caller(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    _setup: Annotated[None, Depends(require_setup)],
) -> Caller:
    """matches Dify's login_required: cookie first, then Bearer; CSRF for cookie sessions."""
    cookie_token = read_cookie(request, settings, ACCESS_COOKIE)
    bearer = _bearer(request)
    if cookie_token is None and bearer is not None:
        admin = await _admin_key_caller(request, session, settings, bearer)
        if admin is not None:
            return admin
    token = cookie_token or bearer
    if token is None:
        raise tokens.InvalidToken("Invalid Authorization token.")
    account_id = tokens.decode_access_token(settings, token)
    account = await accounts.get_account(session, account_id)
    if account is None:
        raise tokens.InvalidToken("Invalid Authorization token.")
    if account.status == AccountStatus.BANNED:
        raise tokens.InvalidToken("Account is banned.")
    if account.status in (AccountStatus.CLOSED, AccountStatus.PENDING):
        raise tokens.InvalidToken("Invalid Authorization token.")
    if cookie_token is not None:
        # Enforced only for cookie sessions: a Bearer-only client carries no ambient
        # credential, so skipping CSRF there is safe (a documented divergence from Dify).
        header = request.headers.get(CSRF_HEADER)
        cookie = read_cookie(request, settings, CSRF_COOKIE)
        if not header or header != cookie:
            raise CsrfInvalid()
        if not tokens.csrf_token_is_valid(settings, header, account.id):
            raise CsrfInvalid()
    if account.status == AccountStatus.UNINITIALIZED:
        raise AccountNotInitialized()
    return Caller(account=account, via_cookie=cookie_token is not None)


CallerDep = Annotated[Caller, Depends(get_caller)]


async def get_current_account(caller: CallerDep) -> Account:
    return caller.account


CurrentAccount = Annotated[Account, Depends(get_current_account)]


@dataclass(frozen=True, slots=True)
class WorkspaceScope:
    """The caller inside their current workspace: every tenant query filters on tenant.id."""

    account: Account
    tenant: Tenant
    role: TenantRole


async def get_workspace_scope(caller: CallerDep, session: SessionDep) -> WorkspaceScope:
    if caller.admin_workspace_id is not None:
        tenant = await session.get(Tenant, caller.admin_workspace_id)
        if tenant is None:
            raise Unauthorized("Workspace not found for the admin API key.")
        return WorkspaceScope(caller.account, tenant, TenantRole.OWNER)
    found = await workspaces.current_membership(session, caller.account.id)
    if found is None:
        raise workspaces.NoWorkspace()
    tenant, membership = found
    return WorkspaceScope(caller.account, tenant, TenantRole(membership.role))


CurrentWorkspace = Annotated[WorkspaceScope, Depends(get_workspace_scope)]


def require_roles(
    *roles: TenantRole,
) -> Callable[[WorkspaceScope], Coroutine[Any, Any, WorkspaceScope]]:
    """A dependency that admits only the given roles (403 ``forbidden`` otherwise)."""

    async def _check(scope: CurrentWorkspace) -> WorkspaceScope:
        if scope.role not in roles:
            raise Forbidden()
        return scope

    return _check


EDITOR_ROLES = (TenantRole.OWNER, TenantRole.ADMIN, TenantRole.EDITOR)
ADMIN_ROLES = (TenantRole.OWNER, TenantRole.ADMIN)
DATASET_ROLES = (*EDITOR_ROLES, TenantRole.DATASET_OPERATOR)

EditorWorkspace = Annotated[WorkspaceScope, Depends(require_roles(*EDITOR_ROLES))]
AdminWorkspace = Annotated[WorkspaceScope, Depends(require_roles(*ADMIN_ROLES))]
OwnerWorkspace = Annotated[WorkspaceScope, Depends(require_roles(TenantRole.OWNER))]
