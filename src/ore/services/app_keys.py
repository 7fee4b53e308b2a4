"""Service API keys of an app (``app-`` + 24 letters and digits, Dify's format).

A key is shown once, at creation; only its SHA-256 digest is stored, with a short prefix
and suffix so a list can show it masked (``app-abcd…wxyz``). Dify lists full keys; ore
does not (DESIGN.md section 5). Errors on these routes use Dify's abort shape: a body of
``message`` (and ``custom``) only.
"""

from __future__ import annotations

import hmac
import secrets
import string
import uuid
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ore.core.errors import BadRequest, NotFound
from ore.models import App, AppApiKey, Tenant, utcnow
from ore.services.tokens import token_digest

TOKEN_PREFIX = "app-"  # noqa: S105 (a marker, not a secret)
TOKEN_RANDOM_CHARS = 24
TOKEN_LENGTH = len(TOKEN_PREFIX) + TOKEN_RANDOM_CHARS
_ALPHABET = string.ascii_letters + string.digits
MAX_KEYS = 10
MASK = "…"
_SHOWN_PREFIX = len(TOKEN_PREFIX) + 4
_SHOWN_SUFFIX = 4
# last_used_at is informative: written at most once a minute per key.
_LAST_USED_RESOLUTION = timedelta(minutes=1)


class _AbortShaped:
    """matches Dify's flask_restx ``abort``: no ``code`` or ``status`` in the body."""

    message: str
    extra: dict[str, Any]

    def body(self) -> dict[str, Any]:
        return {"message": self.message, **self.extra}


class ApiKeyLimit(_AbortShaped, BadRequest):
    default_message = f"Cannot create more than {MAX_KEYS} API keys for this resource type."

    def __init__(self) -> None:
        super().__init__(extra={"custom": "max_keys_exceeded"})


class ApiKeyNotFound(_AbortShaped, NotFound):
    default_message = "API key not found"


class ApiKeyAppNotFound(_AbortShaped, NotFound):
    code = "app_not_found"
    default_message = "App not found."


def new_token() -> str:
    """``app-`` + 24 random letters and digits (about 143 bits)."""
    return TOKEN_PREFIX + "".join(secrets.choice(_ALPHABET) for _ in range(TOKEN_RANDOM_CHARS))


def masked(key: AppApiKey) -> str:
    """The key as a list shows it: ``app-abcd…wxyz``."""
    return f"{key.prefix}{MASK}{key.suffix}"


async def create_app_key(
    session: AsyncSession, app: App, created_by: uuid.UUID | None
) -> tuple[AppApiKey, str]:
    """A new key of ``app`` and its token (the only time the token exists in clear);
    :class:`ApiKeyLimit` when the app already has MAX_KEYS keys."""
    count = await session.scalar(
        select(func.count()).select_from(AppApiKey).where(AppApiKey.app_id == app.id)
    )
    if (count or 0) >= MAX_KEYS:
        raise ApiKeyLimit()
    token = new_token()
    key = AppApiKey(
        tenant_id=app.tenant_id,
        app_id=app.id,
        token_hash=token_digest(token),
        prefix=token[:_SHOWN_PREFIX],
        suffix=token[-_SHOWN_SUFFIX:],
        created_by=created_by,
        created_at=utcnow(),
    )
    session.add(key)
    await session.flush()
    return key, token


async def list_app_keys(session: AsyncSession, app: App) -> Sequence[AppApiKey]:
    """The app's keys, oldest first (as Dify lists them)."""
    result = await session.scalars(
        select(AppApiKey)
        .where(AppApiKey.app_id == app.id, AppApiKey.tenant_id == app.tenant_id)
        .order_by(AppApiKey.created_at, AppApiKey.id)
    )
    return result.all()


async def delete_app_key(session: AsyncSession, app: App, key_id: uuid.UUID) -> None:
    """Delete a key of ``app``; a key of another app or workspace is :class:`ApiKeyNotFound`."""
    key = await session.scalar(
        select(AppApiKey).where(
            AppApiKey.id == key_id,
            AppApiKey.app_id == app.id,
            AppApiKey.tenant_id == app.tenant_id,
        )
    )
    if key is None:
        raise ApiKeyNotFound()
    await session.delete(key)
    await session.flush()


async def authenticate_app_key(session: AsyncSession, token: str) -> tuple[App, Tenant] | None:
    """The app and workspace of an app key, or None for an unknown token.

    The app and workspace come back whatever their state, so the Service API can answer
    each refusal with Dify's own 403 message (app abnormal, API disabled, workspace
    archived). ``last_used_at`` is written in the same unit of work when it is due.
    """
    found = await find_app_key(session, token)
    if found is None:
        return None
    key, app, tenant = found
    if use_is_due(key):
        key.last_used_at = utcnow()
        await session.flush()
    return app, tenant


async def find_app_key(session: AsyncSession, token: str) -> tuple[AppApiKey, App, Tenant] | None:
    """The key, app and workspace of an app key, or None for an unknown token; reads only.

    The lookup is by digest, so its time does not depend on how much of a guessed token
    matches; the final comparison is constant-time as well.
    """
    if len(token) != TOKEN_LENGTH or not token.startswith(TOKEN_PREFIX):
        return None
    digest = token_digest(token)
    row = (
        await session.execute(
            select(AppApiKey, App, Tenant)
            .join(App, App.id == AppApiKey.app_id)
            .join(Tenant, Tenant.id == AppApiKey.tenant_id)
            .where(AppApiKey.token_hash == digest, App.tenant_id == AppApiKey.tenant_id)
        )
    ).first()
    if row is None:
        return None
    key, app, tenant = row
    if not hmac.compare_digest(key.token_hash, digest):
        return None
    return key, app, tenant


def use_is_due(key: AppApiKey) -> bool:
    """Whether ``last_used_at`` is old enough to be written again (once a minute at most)."""
    return key.last_used_at is None or utcnow() - key.last_used_at >= _LAST_USED_RESOLUTION


async def record_use(session: AsyncSession, key_id: uuid.UUID) -> None:
    """Set the key's ``last_used_at`` to now (for callers that looked it up read-only)."""
    await session.execute(
        update(AppApiKey).where(AppApiKey.id == key_id).values(last_used_at=utcnow())
    )
