"""model providers: tenant keys, credentials, provider configs, defaults, gateway keys

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 20:42:28.671856
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "default_models",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("model_type", sa.String(length=40), nullable=False),
        sa.Column("provider", sa.String(length=255), nullable=False),
        sa.Column("model", sa.String(length=255), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_default_models_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_default_models")),
        sa.UniqueConstraint("tenant_id", "model_type", name=op.f("uq_default_models_tenant_id")),
    )
    op.create_table(
        "gateway_keys",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("suffix", sa.String(length=16), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("last_used_at", sa.DateTime(), nullable=True),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["accounts.id"],
            name=op.f("fk_gateway_keys_created_by_accounts"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_gateway_keys_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gateway_keys")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_gateway_keys_token_hash")),
    )
    with op.batch_alter_table("gateway_keys", schema=None) as batch_op:
        batch_op.create_index("ix_gateway_keys_tenant_id", ["tenant_id"], unique=False)

    op.create_table(
        "provider_credentials",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("provider", sa.String(length=255), nullable=False),
        sa.Column("model_name", sa.String(length=255), nullable=True),
        sa.Column("model_type", sa.String(length=40), nullable=True),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("encrypted_config", sa.Text(), nullable=False),
        sa.Column("is_valid", sa.Boolean(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_provider_credentials_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_provider_credentials")),
    )
    with op.batch_alter_table("provider_credentials", schema=None) as batch_op:
        batch_op.create_index(
            "ix_provider_credentials_tenant_provider", ["tenant_id", "provider"], unique=False
        )

    op.create_table(
        "tenant_keys",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("wrapped_key", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_tenant_keys_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", name=op.f("pk_tenant_keys")),
    )
    op.create_table(
        "load_balancing_configs",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("provider", sa.String(length=255), nullable=False),
        sa.Column("model_name", sa.String(length=255), nullable=False),
        sa.Column("model_type", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("credential_id", sa.Uuid(), nullable=True),
        sa.Column("weight", sa.Integer(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["credential_id"],
            ["provider_credentials.id"],
            name=op.f("fk_load_balancing_configs_credential_id_provider_credentials"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_load_balancing_configs_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_load_balancing_configs")),
    )
    with op.batch_alter_table("load_balancing_configs", schema=None) as batch_op:
        batch_op.create_index(
            "ix_load_balancing_configs_model",
            ["tenant_id", "provider", "model_name", "model_type"],
            unique=False,
        )

    op.create_table(
        "provider_configs",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("provider", sa.String(length=255), nullable=False),
        sa.Column("model_name", sa.String(length=255), nullable=True),
        sa.Column("model_type", sa.String(length=40), nullable=True),
        sa.Column("current_credential_id", sa.Uuid(), nullable=True),
        sa.Column("preferred_provider_type", sa.String(length=40), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("load_balancing_enabled", sa.Boolean(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["current_credential_id"],
            ["provider_credentials.id"],
            name=op.f("fk_provider_configs_current_credential_id_provider_credentials"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_provider_configs_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_provider_configs")),
        sa.UniqueConstraint(
            "tenant_id",
            "provider",
            "model_name",
            "model_type",
            name=op.f("uq_provider_configs_tenant_id"),
        ),
    )
    with op.batch_alter_table("provider_configs", schema=None) as batch_op:
        batch_op.create_index(
            "uq_provider_configs_provider_level",
            ["tenant_id", "provider"],
            unique=True,
            sqlite_where=sa.text("model_name IS NULL"),
            postgresql_where=sa.text("model_name IS NULL"),
        )


def downgrade() -> None:
    with op.batch_alter_table("provider_configs", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_provider_configs_provider_level",
            sqlite_where=sa.text("model_name IS NULL"),
            postgresql_where=sa.text("model_name IS NULL"),
        )

    op.drop_table("provider_configs")
    with op.batch_alter_table("load_balancing_configs", schema=None) as batch_op:
        batch_op.drop_index("ix_load_balancing_configs_model")

    op.drop_table("load_balancing_configs")
    op.drop_table("tenant_keys")
    with op.batch_alter_table("provider_credentials", schema=None) as batch_op:
        batch_op.drop_index("ix_provider_credentials_tenant_provider")

    op.drop_table("provider_credentials")
    with op.batch_alter_table("gateway_keys", schema=None) as batch_op:
        batch_op.drop_index("ix_gateway_keys_tenant_id")

    op.drop_table("gateway_keys")
    op.drop_table("default_models")
