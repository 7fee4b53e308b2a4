"""Handlers of the domain signals in ``ore.services.signals``.

Handlers run inside the sender's unit of work (signals carry its ``session``). They do no
slow work themselves: they enqueue a task with ids and strings as arguments, which runs
only if that unit of work commits.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from ore.config import Settings
from ore.core.local_models import CHAT_MODEL_NAME, EMBEDDING_MODEL_NAME, RERANK_MODEL_NAME
from ore.extensions.tasks import current_backend, enqueue
from ore.models import Account, DefaultModel, ProviderConfig, Tenant
from ore.services import signals

_registered = False
# The settings of the process that registered the handlers (a server, a worker or a CLI
# command); the latest registration wins, so tests may build apps with other settings.
_settings: Settings | None = None

LOCAL_PROVIDER = "local"
# The workspace defaults a new embedded workspace gets, by model type.
LOCAL_DEFAULTS = {
    "llm": CHAT_MODEL_NAME,
    "text-embedding": EMBEDDING_MODEL_NAME,
    "rerank": RERANK_MODEL_NAME,
}


def on_member_invited(
    sender: object,
    *,
    session: AsyncSession,
    tenant: Tenant,
    email: str,
    role: str,
    url: str,
    inviter: Account,
    **_: Any,
) -> None:
    """Queue the invitation mail when this process sends mail (MAIL_TYPE=smtp)."""
    backend = current_backend()
    # The settings of this process are those its task backend was started with.
    if backend is None or backend.settings.MAIL_TYPE != "smtp":
        return
    enqueue(
        session,
        "mail.send_invitation",
        {
            "email": email,
            "workspace_name": tenant.name,
            "inviter_name": inviter.name,
            "role": str(role),
            "url": url,
        },
        tenant_id=tenant.id,
    )


def on_workspace_created(sender: Tenant, *, session: AsyncSession, **_: Any) -> None:
    """In embedded mode, give the new workspace the ``local`` provider and its models as the
    defaults, so an app made right after `make run` answers with no keys (DESIGN.md §2).

    The provider needs no credential: its provider-level row is its whole configuration.
    Distributed deployments, and LOCAL_MODELS_ENABLED=false, start with no provider.
    """
    settings = _settings
    if settings is None or settings.is_distributed or not settings.LOCAL_MODELS_ENABLED:
        return
    session.add(ProviderConfig(tenant_id=sender.id, provider=LOCAL_PROVIDER))
    for model_type, model in LOCAL_DEFAULTS.items():
        session.add(
            DefaultModel(
                tenant_id=sender.id, model_type=model_type, provider=LOCAL_PROVIDER, model=model
            )
        )


def register_handlers(settings: Settings | None = None) -> None:
    """Connect every handler; idempotent so tests may build many apps in one process."""
    global _registered, _settings
    if settings is not None:
        _settings = settings
    if _registered:
        return
    # Strong references: the handlers are module functions, alive for the whole process.
    signals.member_invited.connect(on_member_invited, weak=False)
    signals.workspace_created.connect(on_workspace_created, weak=False)
    _registered = True
