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
from ore.models.task import TaskRun, TaskStatus

__all__ = [
    "Account",
    "AccountStatus",
    "Base",
    "Invitation",
    "RefreshToken",
    "Setup",
    "TaskRun",
    "TaskStatus",
    "Tenant",
    "TenantAccountJoin",
    "TenantRole",
    "TenantStatus",
    "utcnow",
]
