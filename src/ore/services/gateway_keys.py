"""Workspace keys for the OpenAI-compatible model gateway.

A key is ``gw-`` followed by 48 URL-safe random characters. It is shown once, at creation;
only its SHA-256 digest is stored, with a short prefix and suffix kept for a masked list.
"""

from __future__ import annotations

import hmac
import secrets
import uuid
from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from ore.core.errors import BadRequest, NotFound
from ore.models import GatewayKey, Tenant, TenantStatus, utcnow
from ore.services.tokens import token_digest

TOKEN_PREFIX = "gw-"  # noqa: S105 (a marker, not a secret)
TOKEN_RANDOM_CHARS = 48
TOKEN_LENGTH = len(TOKEN_PREFIX) + TOKEN_RANDOM_CHARS
MAX_LIVE_KEYS = 50
MASK = "…"
_SHOWN_PREFIX = len(TOKEN_PREFIX) + 4
_SHOWN_SUFFIX = 4
# last_used_at is informative: writing it at most once a minute keeps a busy key from
# turning every gateway call into a row update.
_LAST_USED_RESOLUTION = timedelta(minutes=1)


class GatewayKeyLimit(BadRequest):
    code = "gateway_key_limit_exceeded"
    default_message = (
        f"This workspace already has {MAX_LIVE_KEYS} gateway keys; delete one before "
        "creating another."
    )


class GatewayKeyNotFound(NotFound):
    default_message = "Gateway key not found."


def new_token() -> str:
    """``gw-`` + 48 URL-safe characters (36 random bytes, 288 bits)."""
    return TOKEN_PREFIX + secrets.token_urlsafe(36)


def masked(key: GatewayKey) -> str:
    """The key as a list shows it: ``gw-abcd…wxyz``."""
    return f"{key.prefix}{MASK}{key.suffix}"


async def create_gateway_key(
    session: AsyncSession, tenant_id: uuid.UUID, created_by: uuid.UUID | None
) -> tuple[GatewayKey, str]:
    """A new key of the workspace and its token (the only time the token exists in clear).

    Raises :class:`GatewayKeyLimit` when the workspace already has MAX_LIVE_KEYS live keys.
    """
    live = await session.scalar(
        select(func.count())
        .select_from(GatewayKey)
        .where(GatewayKey.tenant_id == tenant_id, GatewayKey.revoked_at.is_(None))
    )
    if (live or 0) >= MAX_LIVE_KEYS:
        raise GatewayKeyLimit()
    token = new_token()
    key = GatewayKey(
        tenant_id=tenant_id,
        token_hash=token_digest(token),
        prefix=token[:_SHOWN_PREFIX],
        suffix=token[-_SHOWN_SUFFIX:],
        created_by=created_by,
        created_at=utcnow(),
    )
    session.add(key)
    await session.flush()
    return key, token


async def list_gateway_keys(session: AsyncSession, tenant_id: uuid.UUID) -> Sequence[GatewayKey]:
    """The workspace's live keys, newest first."""
    result = await session.scalars(
        select(GatewayKey)
        .where(GatewayKey.tenant_id == tenant_id, GatewayKey.revoked_at.is_(None))
        .order_by(GatewayKey.created_at.desc(), GatewayKey.id)
    )
    return result.all()


async def revoke_gateway_key(
    session: AsyncSession, tenant_id: uuid.UUID, key_id: uuid.UUID
) -> None:
    """Revoke a live key of this workspace; another workspace's or a revoked key is 404."""
    key = await session.scalar(
        select(GatewayKey).where(
            GatewayKey.id == key_id,
            GatewayKey.tenant_id == tenant_id,
            GatewayKey.revoked_at.is_(None),
        )
    )
    if key is None:
        raise GatewayKeyNotFound()
    key.revoked_at = utcnow()
    await session.flush()


async def authenticate_gateway_key(session: AsyncSession, token: str) -> uuid.UUID | None:
    """The workspace a gateway token belongs to, or None (unknown, revoked, archived).

    The lookup is by digest, so response time does not depend on how much of a guessed
    token matches a real one; the final comparison is constant-time as well.
    """
    if len(token) != TOKEN_LENGTH or not token.startswith(TOKEN_PREFIX):
        return None
    digest = token_digest(token)
    key = await session.scalar(
        select(GatewayKey)
        .join(Tenant, Tenant.id == GatewayKey.tenant_id)
        .where(
            GatewayKey.token_hash == digest,
            GatewayKey.revoked_at.is_(None),
            Tenant.status == TenantStatus.NORMAL,
        )
    )
    if key is None or not hmac.compare_digest(key.token_hash, digest):
        return None
    now = utcnow()
    if key.last_used_at is None or now - key.last_used_at >= _LAST_USED_RESOLUTION:
        key.last_used_at = now
        await session.flush()
    return key.tenant_id
