"""Mail tasks: the message is built and sent after the unit of work that asked for it."""

from __future__ import annotations

from typing import Any

from ore.extensions.tasks import TaskContext, task
from ore.services import mail


@task("mail.send_invitation", secret_args=("url",))
async def send_invitation(
    ctx: TaskContext,
    email: str,
    workspace_name: str,
    inviter_name: str,
    role: str,
    url: str,
) -> dict[str, Any]:
    """Mail the activation link of an invitation (the link is redacted once the run ends)."""
    message = mail.invitation_mail(
        to=email, workspace_name=workspace_name, inviter_name=inviter_name, role=role, url=url
    )
    message_id = await mail.send_mail(ctx.settings, message)
    return {"to": email, "message_id": message_id}
