"""Model providers of a workspace: credentials, current choices, defaults, gateway keys.

Shapes follow Dify's multi-credential model (console spec section 7): a provider, or one
model of a provider, has several named credentials and one current credential. A row with
``model_name`` and ``model_type`` null is provider-level; with both set it is per-model.
Secrets never sit in these tables in clear: ``encrypted_config`` is sealed by
``ore.services.secrets`` with the workspace's own key, which is stored wrapped in
``tenant_keys``.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from ore.models.base import Base, Timestamps, UUIDPrimaryKey, utcnow


class TenantKey(Base):
    """A workspace's data-encryption key, wrapped with a key derived from SECRET_KEY."""

    __tablename__ = "tenant_keys"

    tenant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    wrapped_key: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ProviderCredential(UUIDPrimaryKey, Timestamps, Base):
    """One named credential set of a provider (model columns null) or of one model."""

    __tablename__ = "provider_credentials"
    __table_args__ = (Index("ix_provider_credentials_tenant_provider", "tenant_id", "provider"),)

    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    provider: Mapped[str] = mapped_column(String(255))
    model_name: Mapped[str | None] = mapped_column(String(255), default=None)
    model_type: Mapped[str | None] = mapped_column(String(40), default=None)
    name: Mapped[str] = mapped_column(String(255))
    encrypted_config: Mapped[str] = mapped_column(Text)
    is_valid: Mapped[bool] = mapped_column(default=True)


class ProviderConfig(UUIDPrimaryKey, Timestamps, Base):
    """Per provider (model columns null) or per model: which credential is current.

    SQL treats NULLs as distinct in a unique constraint, so provider-level rows get their
    own partial unique index; per-model rows are covered by the plain constraint.
    """

    __tablename__ = "provider_configs"
    __table_args__ = (
        UniqueConstraint("tenant_id", "provider", "model_name", "model_type"),
        Index(
            "uq_provider_configs_provider_level",
            "tenant_id",
            "provider",
            unique=True,
            sqlite_where=text("model_name IS NULL"),
            postgresql_where=text("model_name IS NULL"),
        ),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    provider: Mapped[str] = mapped_column(String(255))
    model_name: Mapped[str | None] = mapped_column(String(255), default=None)
    model_type: Mapped[str | None] = mapped_column(String(40), default=None)
    current_credential_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("provider_credentials.id", ondelete="SET NULL"), default=None
    )
    # Dify's preferred_provider_type: "custom" (own credentials) or "system" (hosted quota).
    preferred_provider_type: Mapped[str] = mapped_column(String(40), default="custom")
    # Per-model switches of Dify's provider_model_settings.
    enabled: Mapped[bool] = mapped_column(default=True)
    load_balancing_enabled: Mapped[bool] = mapped_column(default=False)


class LoadBalancingConfig(UUIDPrimaryKey, Timestamps, Base):
    """One entry of a model's load-balancing pool.

    ``credential_id`` null is Dify's ``__inherit__`` entry: the provider's current credential.
    """

    __tablename__ = "load_balancing_configs"
    __table_args__ = (
        Index(
            "ix_load_balancing_configs_model",
            "tenant_id",
            "provider",
            "model_name",
            "model_type",
        ),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    provider: Mapped[str] = mapped_column(String(255))
    model_name: Mapped[str] = mapped_column(String(255))
    model_type: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(255))
    credential_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("provider_credentials.id", ondelete="CASCADE"), default=None
    )
    weight: Mapped[int] = mapped_column(default=1)
    enabled: Mapped[bool] = mapped_column(default=True)


class DefaultModel(UUIDPrimaryKey, Timestamps, Base):
    """The workspace's default model for one model type (llm, text-embedding, rerank...)."""

    __tablename__ = "default_models"
    __table_args__ = (UniqueConstraint("tenant_id", "model_type"),)

    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    model_type: Mapped[str] = mapped_column(String(40))
    provider: Mapped[str] = mapped_column(String(255))
    model: Mapped[str] = mapped_column(String(255))


class GatewayKey(UUIDPrimaryKey, Base):
    """A workspace key for the OpenAI-compatible gateway; only its SHA-256 digest is kept.

    ``prefix`` and ``suffix`` are cut from the token at creation so a list can show it
    masked without ever holding the token.
    """

    __tablename__ = "gateway_keys"
    __table_args__ = (Index("ix_gateway_keys_tenant_id", "tenant_id"),)

    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    suffix: Mapped[str] = mapped_column(String(16))
    created_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("accounts.id", ondelete="SET NULL"), default=None
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)
