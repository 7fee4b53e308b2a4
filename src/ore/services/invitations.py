"""Invitations to a workspace and their activation.

matches Dify: ``RegisterService.invite_new_member`` and ``activate.py``, with two
deliberate differences:

- the token is stored hashed in the ``invitations`` table (Dify keeps it in Redis), single
  use, and expires after ``INVITE_EXPIRY_HOURS``;
- someone who already has an active account joins the workspace when they accept the
  invitation, not the moment they are invited; accepting never changes that account's
  name, settings or password (the link is shown to the inviter too).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal
from urllib.parse import quote

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from ore.core.errors import Forbidden, InvalidParam
from ore.models import (
    Account,
    AccountStatus,
    Invitation,
    Tenant,
    TenantAccountJoin,
    TenantRole,
    TenantStatus,
)
from ore.models.base import utcnow
from ore.services import accounts, members, passwords, signals, tokens, workspaces

DEFAULT_LANGUAGE = "en-US"


class AlreadyActivate(Forbidden):
    """matches Dify: any unusable invitation token (unknown, used, revoked, expired)."""

    code = "already_activate"
    default_message = "Auth Token is invalid or account already activated, please check again."


class _AlreadyMember(Exception):
    """Internal: the invitee is an active member already (Dify's signin-link result)."""


class _AccountUnavailable(Exception):
    """Internal: a banned or closed account cannot be invited."""


def _is_valid_email(email: str) -> bool:
    try:
        accounts.check_email(email)
    except InvalidParam:
        return False
    return True


@dataclass(frozen=True, slots=True)
class InvitationLinks:
    """Where invitation results point: the console UI's activate and sign-in pages."""

    console_web_url: str

    def activate(self, email: str, token: str) -> str:
        # An empty CONSOLE_WEB_URL gives a relative link, which the UI resolves itself.
        base = self.console_web_url.rstrip("/")
        return f"{base}/activate?email={quote(email, safe='')}&token={token}"

    def signin(self) -> str:
        return f"{self.console_web_url.rstrip('/')}/signin"


@dataclass(frozen=True, slots=True)
class InvitationResult:
    """One entry of ``invitation_results``: success with a link, or failed with a message."""

    status: Literal["success", "failed"]
    email: str
    url: str | None = None
    message: str | None = None


def _unique(emails: Iterable[str]) -> list[str]:
    seen: dict[str, None] = {}
    for email in emails:
        seen.setdefault(accounts.normalize_email(email), None)
    return list(seen)


async def invite_members(
    session: AsyncSession,
    tenant: Tenant,
    *,
    inviter: Account,
    inviter_role: TenantRole,
    emails: Iterable[str],
    role: str,
    language: str | None,
    links: InvitationLinks,
    expiry_hours: float,
) -> list[InvitationResult]:
    """Invite each email to ``tenant`` with ``role``; one result per distinct email.

    A new email gets a pending account that is a member at once (listed as ``pending``);
    an existing account gets an invitation it joins through. Each successful invitation
    sends ``signals.member_invited`` (the mail is the handler's business).
    """
    members.check_can_add_members(inviter_role)
    granted = members.assignable_role(role)
    new_account_language = (
        language if language in accounts.SUPPORTED_LANGUAGES else DEFAULT_LANGUAGE
    )
    results: list[InvitationResult] = []
    for email in _unique(emails):
        if not _is_valid_email(email):
            results.append(
                InvitationResult("failed", email, message=f"{email} is not a valid email.")
            )
            continue
        try:
            # A savepoint per email: one failed address never undoes the others.
            async with session.begin_nested():
                token = await _invite_one(
                    session,
                    tenant,
                    inviter=inviter,
                    email=email,
                    role=granted,
                    language=new_account_language,
                    expiry_hours=expiry_hours,
                )
        except _AlreadyMember:
            results.append(InvitationResult("success", email, url=links.signin()))
            continue
        except _AccountUnavailable:
            results.append(InvitationResult("failed", email, message="Account is not available."))
            continue
        except IntegrityError:
            message = "The invitation clashed with a concurrent change; please try again."
            results.append(InvitationResult("failed", email, message=message))
            continue
        url = links.activate(email, token)
        signals.member_invited.send(
            tenant,
            session=session,
            tenant=tenant,
            email=email,
            role=granted,
            url=url,
            inviter=inviter,
        )
        results.append(InvitationResult("success", email, url=url))
    return results


async def _invite_one(
    session: AsyncSession,
    tenant: Tenant,
    *,
    inviter: Account,
    email: str,
    role: TenantRole,
    language: str,
    expiry_hours: float,
) -> str:
    account = await accounts.get_account_by_email(session, email)
    if account is None:
        account = await accounts.create_account(
            session,
            email=email,
            name=email.split("@", 1)[0],
            status=AccountStatus.PENDING,
            interface_language=language,
        )
    if account.status in (AccountStatus.BANNED, AccountStatus.CLOSED):
        raise _AccountUnavailable()
    join = await workspaces.get_membership(session, tenant.id, account.id)
    if account.status == AccountStatus.PENDING:
        # matches Dify: a pending invitee is a member right away, so the list shows them,
        # and inviting them again resends a link (keeping the role they have).
        if join is None:
            session.add(
                TenantAccountJoin(
                    tenant_id=tenant.id, account_id=account.id, role=role, invited_by=inviter.id
                )
            )
    elif join is not None:
        raise _AlreadyMember()
    # One open link per person and workspace: a new invitation replaces the old one.
    await members.revoke_open_invitations(session, tenant.id, account.id)
    token = tokens.new_opaque_token()
    session.add(
        Invitation(
            tenant_id=tenant.id,
            account_id=account.id,
            email=account.email,
            role=role,
            token_hash=tokens.token_digest(token),
            invited_by=inviter.id,
            expires_at=utcnow() + timedelta(hours=expiry_hours),
        )
    )
    await session.flush()
    return token


@dataclass(frozen=True, slots=True)
class OpenInvitation:
    invitation: Invitation
    tenant: Tenant
    account: Account


async def find_open_invitation(
    session: AsyncSession,
    token: str,
    *,
    email: str | None = None,
    workspace_id: str | None = None,
) -> OpenInvitation | None:
    """The usable invitation behind ``token``, or None.

    When ``email`` or ``workspace_id`` are given they must match the invitation, so a
    link for one workspace never opens another.
    """
    if not token:
        return None
    query = (
        select(Invitation, Tenant, Account)
        .join(Tenant, Tenant.id == Invitation.tenant_id)
        .join(Account, Account.id == Invitation.account_id)
        .where(
            Invitation.token_hash == tokens.token_digest(token),
            Invitation.accepted_at.is_(None),
            Invitation.revoked_at.is_(None),
            Invitation.expires_at > utcnow(),
            Tenant.status == TenantStatus.NORMAL,
        )
    )
    if workspace_id:
        try:
            query = query.where(Invitation.tenant_id == uuid.UUID(workspace_id))
        except ValueError:
            return None
    if email:
        if not _is_valid_email(email):
            return None
        query = query.where(Invitation.email == accounts.normalize_email(email))
    row = (await session.execute(query)).first()
    if row is None:
        return None
    invitation, tenant, account = row
    if account.status in (AccountStatus.BANNED, AccountStatus.CLOSED):
        return None
    if account.status == AccountStatus.PENDING and (
        await workspaces.get_membership(session, tenant.id, account.id) is None
    ):
        return None
    return OpenInvitation(invitation, tenant, account)


@dataclass(frozen=True, slots=True)
class Activation:
    """What the invitee sends when accepting; profile fields apply to new accounts only."""

    token: str
    name: str
    interface_language: str
    timezone: str
    email: str | None = None
    workspace_id: str | None = None
    password: str | None = None


async def activate(session: AsyncSession, request: Activation) -> Account:
    """Accept an invitation: the token is the credential and works once.

    A pending account becomes active with the given profile (and password, if any) and
    the workspace becomes its current one; an existing account only gains the membership.
    """
    accounts.check_language(request.interface_language)
    accounts.check_timezone(request.timezone)
    if request.password is not None:
        passwords.check_password_policy(request.password)
    found = await find_open_invitation(
        session, request.token, email=request.email, workspace_id=request.workspace_id
    )
    if found is None:
        raise AlreadyActivate()
    invitation, tenant, account = found.invitation, found.tenant, found.account
    # Claimed with a conditional update so two concurrent requests cannot both use it.
    claimed = await session.execute(
        update(Invitation)
        .where(
            Invitation.id == invitation.id,
            Invitation.accepted_at.is_(None),
            Invitation.revoked_at.is_(None),
        )
        .values(accepted_at=utcnow())
    )
    if not getattr(claimed, "rowcount", 0):
        raise AlreadyActivate()
    await members.revoke_open_invitations(session, tenant.id, account.id)
    join = await workspaces.get_membership(session, tenant.id, account.id)
    if join is None:
        join = TenantAccountJoin(
            tenant_id=tenant.id,
            account_id=account.id,
            role=invitation.role,
            invited_by=invitation.invited_by,
        )
        session.add(join)
    if account.status == AccountStatus.PENDING:
        await _initialize(account, request)
        await session.flush()
        await workspaces.make_current(session, account.id, join)
    await session.flush()
    signals.member_joined.send(tenant, session=session, account=account, role=join.role)
    return account


async def _initialize(account: Account, request: Activation) -> None:
    now = utcnow()
    account.name = request.name
    account.interface_language = request.interface_language
    account.timezone = request.timezone
    account.interface_theme = "light"
    account.status = AccountStatus.ACTIVE
    account.initialized_at = now
    if request.password is not None:
        account.password_hash = await passwords.hash_password(request.password)
