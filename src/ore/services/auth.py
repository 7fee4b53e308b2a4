"""Console credentials: password login, refresh-token rotation, logout, password change.

Refresh tokens are opaque, stored as SHA-256 digests, and grouped in families: each login
starts a family, each refresh marks the presented token used and issues its successor in
the same family. Presenting a token that was already used means two parties hold it (a
stolen copy or a replay), so the whole family is revoked.

Access tokens are stateless JWTs: logout and password change revoke refresh tokens, and an
access token already issued stays valid until it expires (ACCESS_TOKEN_EXPIRE_MINUTES).
"""

from __future__ import annotations

import base64
import binascii
import math
import uuid
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import ColumnElement, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ore.config import Settings
from ore.core.errors import BadRequest, OreError, TooManyRequests, Unauthorized
from ore.core.kv import KV
from ore.models import Account, AccountStatus, Invitation, RefreshToken
from ore.models.base import utcnow
from ore.services import accounts, passwords, tokens, workspaces


class AuthenticationFailed(Unauthorized):
    code = "authentication_failed"
    default_message = "Invalid email or password."


class AccountBanned(BadRequest):
    code = "account_banned"
    default_message = "Account is banned."


class InvalidEmail(BadRequest):
    code = "invalid_email"
    default_message = "The email address is not valid."


class LoginLimitExceeded(TooManyRequests):
    # matches Dify: EmailPasswordLoginLimitError keeps the email-code error code.
    code = "email_code_login_limit"
    default_message = "Too many incorrect password attempts. Please try again later."


class RepeatPasswordNotMatch(BadRequest):
    code = "repeat_password_not_match"
    default_message = "New password and repeat password does not match."


class CurrentPasswordIncorrect(BadRequest):
    code = "current_password_incorrect"
    default_message = "Current password is incorrect."


@dataclass(frozen=True, slots=True)
class TokenPair:
    """What login and refresh hand out: set as cookies and returned in the body."""

    access_token: str
    refresh_token: str
    csrf_token: str

    def as_dict(self) -> dict[str, str]:
        return {
            "access_token": self.access_token,
            "refresh_token": self.refresh_token,
            "csrf_token": self.csrf_token,
        }


@dataclass(frozen=True, slots=True)
class LoginResult:
    """``tokens`` is ``None`` when the password was right but the account has no workspace."""

    account: Account
    tokens: TokenPair | None


def password_candidates(raw: str) -> list[str]:
    """The passwords a login value may stand for.

    Dify ≥ 1.11.2 clients send base64 of the UTF-8 password, older clients the plaintext
    (console spec 2.4). A value that decodes to printable UTF-8 is tried both ways; any
    other value is plaintext. The list depends on the input only, never on the account,
    so every login with the same value costs the same work.
    """
    try:
        decoded = base64.b64decode(raw, validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return [raw]
    if not decoded or not decoded.isprintable() or decoded == raw:
        return [raw]
    return [decoded, raw]


async def _verify_any(password_hash: str | None, candidates: list[str]) -> str | None:
    """The candidate that matches; every candidate is checked so the cost never varies."""
    matched = None
    for candidate in candidates:
        if await passwords.verify_password(password_hash, candidate) and matched is None:
            matched = candidate
    return matched


def _throttle_keys(email: str, ip: str) -> tuple[str, str]:
    email_key = tokens.token_digest(accounts.normalize_email(email))
    return f"login-failures:email:{email_key}", f"login-failures:ip:{ip}"


async def _check_throttle(kv: KV, settings: Settings, email_key: str, ip_key: str) -> None:
    window = settings.LOGIN_LOCKOUT_SECONDS
    for key, limit in (
        (email_key, settings.LOGIN_MAX_FAILURES_PER_EMAIL),
        (ip_key, settings.LOGIN_MAX_FAILURES_PER_IP),
    ):
        state = await kv.peek(key, limit=limit, window=window)
        if not state.allowed:
            raise LoginLimitExceeded(retry_after=math.ceil(state.retry_after) or window)


async def _record_failure(kv: KV, settings: Settings, email_key: str, ip_key: str) -> None:
    window = settings.LOGIN_LOCKOUT_SECONDS
    await kv.hit(email_key, limit=settings.LOGIN_MAX_FAILURES_PER_EMAIL, window=window)
    await kv.hit(ip_key, limit=settings.LOGIN_MAX_FAILURES_PER_IP, window=window)


async def _check_invitation(session: AsyncSession, invite_token: str, email: str) -> None:
    """matches Dify: a valid invitation for another email refuses the login."""
    invitation = await session.scalar(
        select(Invitation).where(Invitation.token_hash == tokens.token_digest(invite_token))
    )
    if invitation is None or invitation.revoked_at is not None:
        return
    if invitation.accepted_at is not None or invitation.expires_at <= utcnow():
        return
    if accounts.normalize_email(invitation.email) != accounts.normalize_email(email):
        raise InvalidEmail()


async def login(
    session: AsyncSession,
    kv: KV,
    settings: Settings,
    *,
    email: str,
    password: str,
    ip: str,
    invite_token: str | None = None,
) -> LoginResult:
    """Password login with per-email and per-IP failure limits.

    An unknown email and a wrong password give the same error after the same work. Raises
    :class:`LoginLimitExceeded` (429), :class:`AuthenticationFailed` (401),
    :class:`AccountBanned` (400) or :class:`InvalidEmail` (400).
    """
    email_key, ip_key = _throttle_keys(email, ip)
    await _check_throttle(kv, settings, email_key, ip_key)
    account = await accounts.get_account_by_email(session, email)
    matched = await _verify_any(
        account.password_hash if account else None, password_candidates(password)
    )
    if account is None or matched is None or account.status == AccountStatus.CLOSED:
        await _record_failure(kv, settings, email_key, ip_key)
        raise AuthenticationFailed()
    if account.status == AccountStatus.BANNED:
        raise AccountBanned()
    await kv.reset(email_key)
    if invite_token:
        await _check_invitation(session, invite_token, email)
    if account.password_hash and passwords.needs_rehash(account.password_hash):
        account.password_hash = await passwords.hash_password(matched)
    if account.status == AccountStatus.PENDING:
        # matches Dify: an invited account that signs in with a password becomes active.
        account.status = AccountStatus.ACTIVE
        account.initialized_at = utcnow()
    if await workspaces.current_membership(session, account.id) is None:
        await session.flush()
        return LoginResult(account=account, tokens=None)
    await accounts.record_login(session, account, ip)
    pair = await issue_tokens(session, settings, account.id)
    return LoginResult(account=account, tokens=pair)


async def issue_tokens(
    session: AsyncSession,
    settings: Settings,
    account_id: uuid.UUID,
    *,
    family_id: uuid.UUID | None = None,
) -> TokenPair:
    """A new access, CSRF and refresh token; a new refresh family unless one is given."""
    now = utcnow()
    if family_id is None:
        # A new login is a good moment to drop this account's expired refresh tokens.
        await session.execute(
            delete(RefreshToken).where(
                RefreshToken.account_id == account_id, RefreshToken.expires_at <= now
            )
        )
    refresh = tokens.new_opaque_token()
    session.add(
        RefreshToken(
            account_id=account_id,
            family_id=family_id or uuid.uuid4(),
            token_hash=tokens.token_digest(refresh),
            expires_at=now + timedelta(days=settings.REFRESH_TOKEN_EXPIRE_DAYS),
            created_at=now,
        )
    )
    await session.flush()
    return TokenPair(
        access_token=tokens.issue_access_token(settings, account_id),
        refresh_token=refresh,
        csrf_token=tokens.issue_csrf_token(settings, account_id),
    )


async def refresh(
    session: AsyncSession, settings: Settings, refresh_token: str
) -> TokenPair | None:
    """Rotate a refresh token; ``None`` when it is refused.

    Refusal is a return value, not an exception, because refusing a reused token revokes
    its family and that revocation must commit with the request.

    The token is claimed by one conditional UPDATE (``used_at IS NULL``), so of two
    requests racing with the same token exactly one wins; the other sees a used token.
    """
    now = utcnow()
    digest = tokens.token_digest(refresh_token)
    claimed = (
        await session.execute(
            update(RefreshToken)
            .where(
                RefreshToken.token_hash == digest,
                RefreshToken.used_at.is_(None),
                RefreshToken.revoked_at.is_(None),
                RefreshToken.expires_at > now,
            )
            .values(used_at=now)
            .returning(RefreshToken.account_id, RefreshToken.family_id)
            .execution_options(synchronize_session=False)
        )
    ).first()
    if claimed is None:
        stored = await family_of(session, refresh_token)
        if stored is not None and stored.used_at is not None and stored.revoked_at is None:
            await _revoke(session, RefreshToken.family_id == stored.family_id)
        return None
    account_id, family_id = claimed
    account = await accounts.get_account(session, account_id)
    if account is None or account.status != AccountStatus.ACTIVE:
        await _revoke(session, RefreshToken.family_id == family_id)
        return None
    return await issue_tokens(session, settings, account_id, family_id=family_id)


async def _revoke(session: AsyncSession, *conditions: ColumnElement[bool]) -> None:
    await session.execute(
        update(RefreshToken)
        .where(RefreshToken.revoked_at.is_(None), *conditions)
        .values(revoked_at=utcnow())
        .execution_options(synchronize_session=False)
    )


async def family_of(session: AsyncSession, refresh_token: str) -> RefreshToken | None:
    """The stored row of a refresh token (used, revoked or not), or ``None``."""
    return await session.scalar(
        select(RefreshToken).where(RefreshToken.token_hash == tokens.token_digest(refresh_token))
    )


async def logout(
    session: AsyncSession,
    settings: Settings,
    *,
    refresh_token: str | None,
    access_token: str | None,
) -> None:
    """Revoke the refresh family of ``refresh_token``; without one, every refresh token of
    the account that ``access_token`` names. Invalid tokens are ignored: logout always
    succeeds."""
    if refresh_token:
        stored = await family_of(session, refresh_token)
        if stored is not None:
            await _revoke(session, RefreshToken.family_id == stored.family_id)
        return
    if access_token:
        try:
            account_id = tokens.decode_access_token(settings, access_token)
        except OreError:
            return
        await _revoke(session, RefreshToken.account_id == account_id)


async def change_password(
    session: AsyncSession,
    account: Account,
    *,
    current_password: str | None,
    new_password: str,
    repeat_new_password: str,
    keep_refresh_token: str | None = None,
) -> Account:
    """matches Dify: POST /account/password. Every other session of the account is signed
    out (its refresh tokens revoked); the family of ``keep_refresh_token`` is kept."""
    if new_password != repeat_new_password:
        raise RepeatPasswordNotMatch()
    if account.password_hash is not None and not await passwords.verify_password(
        account.password_hash, current_password or ""
    ):
        raise CurrentPasswordIncorrect()
    passwords.check_password_policy(new_password)
    account.password_hash = await passwords.hash_password(new_password)
    account.updated_at = utcnow()
    conditions: list[ColumnElement[bool]] = [RefreshToken.account_id == account.id]
    if keep_refresh_token:
        kept = await family_of(session, keep_refresh_token)
        if kept is not None and kept.account_id == account.id:
            conditions.append(RefreshToken.family_id != kept.family_id)
    await _revoke(session, *conditions)
    await session.flush()
    return account
