"""Conversation tasks: naming a new conversation after its first message.

Generation enqueues ``conversation.generate_name`` once a new conversation's first message
is stored, so the stream never waits for it. The task reads in one short unit of work,
asks the app's model with no transaction open, and writes the name in a second unit.
"""

from __future__ import annotations

import uuid
from typing import Any

from ore.extensions.tasks import TaskContext, task
from ore.models import Conversation
from ore.services import conversations


@task("conversation.generate_name")
async def generate_name(ctx: TaskContext, conversation_id: str) -> dict[str, Any]:
    """Name the conversation from its first query with the app's model (the query's first
    words when the model cannot answer), unless it was renamed in the meantime."""
    wanted = uuid.UUID(conversation_id)
    async with ctx.db.unit_of_work() as session:
        conversation = await session.get(Conversation, wanted)
        if conversation is None or conversation.is_deleted:
            return {"skipped": "conversation not found"}
        job = await conversations.naming_job(
            session, ctx.models, ctx.settings.SECRET_KEY, conversation
        )
    if job is None:
        return {"skipped": "conversation has no message"}
    name = await conversations.suggest_name(job)
    async with ctx.db.unit_of_work() as session:
        saved = await conversations.save_generated_name(session, wanted, name, keep_given=True)
    if saved is None:
        return {"skipped": "conversation deleted while naming"}
    return {"name": saved.name}
