"""Accounts, workspaces (tenants), memberships, invitations and login sessions."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ore.models.base import Base, Timestamps, UUIDPrimaryKey, utcnow


class AccountStatus(enum.StrEnum):
    PENDING = "pending"
    UNINITIALIZED = "uninitialized"
    ACTIVE = "active"
    BANNED = "banned"
    CLOSED = "closed"


class TenantStatus(enum.StrEnum):
    NORMAL = "normal"
    ARCHIVE = "archive"


class TenantRole(enum.StrEnum):
    """Workspace roles, with Dify's names and meaning."""

    OWNER = "owner"
    ADMIN = "admin"
    EDITOR = "editor"
    NORMAL = "normal"
    DATASET_OPERATOR = "dataset_operator"


class Account(UUIDPrimaryKey, Timestamps, Base):
    __tablename__ = "accounts"

    name: Mapped[str] = mapped_column(String(255))
    email: Mapped[str] = mapped_column(String(255), unique=True)
    password_hash: Mapped[str | None] = mapped_column(String(255), default=None)
    avatar: Mapped[str | None] = mapped_column(String(255), default=None)
    interface_language: Mapped[str] = mapped_column(String(32), default="en-US")
    interface_theme: Mapped[str] = mapped_column(String(16), default="light")
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    status: Mapped[str] = mapped_column(String(16), default=AccountStatus.ACTIVE)
    last_login_at: Mapped[datetime | None] = mapped_column(default=None)
    last_login_ip: Mapped[str | None] = mapped_column(String(64), default=None)
    last_active_at: Mapped[datetime] = mapped_column(default=utcnow)
    initialized_at: Mapped[datetime | None] = mapped_column(default=None)


class Tenant(UUIDPrimaryKey, Timestamps, Base):
    __tablename__ = "tenants"

    name: Mapped[str] = mapped_column(String(255))
    plan: Mapped[str] = mapped_column(String(32), default="basic")
    status: Mapped[str] = mapped_column(String(16), default=TenantStatus.NORMAL)
    custom_config: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)


class TenantAccountJoin(UUIDPrimaryKey, Timestamps, Base):
    """Membership of one account in one workspace; ``current`` marks the active workspace."""

    __tablename__ = "tenant_account_joins"
    __table_args__ = (
        UniqueConstraint("tenant_id", "account_id"),
        Index("ix_tenant_account_joins_account_id", "account_id"),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(String(32), default=TenantRole.NORMAL)
    current: Mapped[bool] = mapped_column(default=False)
    invited_by: Mapped[uuid.UUID | None] = mapped_column(default=None)


class Setup(Base):
    """One row once the first administrator exists (Dify's ``dify_setups``)."""

    __tablename__ = "setups"

    version: Mapped[str] = mapped_column(String(32), primary_key=True)
    setup_at: Mapped[datetime] = mapped_column(default=utcnow)


class RefreshToken(UUIDPrimaryKey, Base):
    """A console refresh token, stored hashed.

    Tokens of one login form a family: refreshing rotates to a new member; presenting a
    member that was already used revokes the whole family (stolen-token detection).
    """

    __tablename__ = "refresh_tokens"
    __table_args__ = (Index("ix_refresh_tokens_family_id", "family_id"),)

    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    family_id: Mapped[uuid.UUID]
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None] = mapped_column(default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Invitation(UUIDPrimaryKey, Base):
    """An invitation of an email to a workspace; the token is stored hashed."""

    __tablename__ = "invitations"
    __table_args__ = (Index("ix_invitations_tenant_id", "tenant_id"),)

    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    email: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(32))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    invited_by: Mapped[uuid.UUID | None] = mapped_column(default=None)
    expires_at: Mapped[datetime]
    accepted_at: Mapped[datetime | None] = mapped_column(default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
