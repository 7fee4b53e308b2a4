"""SQLAlchemy models, one module per table group. Importing this package registers them all."""

from ore.models.account import (
    Account,
    AccountStatus,
    Invitation,
    RefreshToken,
    Setup,
    Tenant,
    TenantAccountJoin,
    TenantRole,
    TenantStatus,
)
from ore.models.base import Base, utcnow
from ore.models.provider import (
    DefaultModel,
    GatewayKey,
    LoadBalancingConfig,
    ProviderConfig,
    ProviderCredential,
    TenantKey,
)
from ore.models.task import TaskRun, TaskStatus

__all__ = [
    "Account",
    "AccountStatus",
    "Base",
    "DefaultModel",
    "GatewayKey",
    "Invitation",
    "LoadBalancingConfig",
    "ProviderConfig",
    "ProviderCredential",
    "RefreshToken",
    "Setup",
    "TaskRun",
    "TaskStatus",
    "Tenant",
    "TenantAccountJoin",
    "TenantKey",
    "TenantRole",
    "TenantStatus",
    "utcnow",
]
