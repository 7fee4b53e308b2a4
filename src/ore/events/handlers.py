"""Handlers of the domain signals in ``ore.services.signals``.

Handlers run inside the sender's unit of work (signals carry its ``session``). They do no
slow work themselves: they enqueue a task with ids and strings as arguments, which runs
only if that unit of work commits.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from ore.extensions.tasks import current_backend, enqueue
from ore.models import Account, Tenant
from ore.services import signals

_registered = False


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


def register_handlers() -> None:
    """Connect every handler; idempotent so tests may build many apps in one process."""
    global _registered
    if _registered:
        return
    # Strong references: the handlers are module functions, alive for the whole process.
    signals.member_invited.connect(on_member_invited, weak=False)
    _registered = True
