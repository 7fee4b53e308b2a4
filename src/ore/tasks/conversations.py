"""Conversation tasks: naming a new conversation after its first message.

Generation enqueues ``conversation.generate_name`` once a new conversation's first message
is stored, so the stream never waits for it. The task reads in one short unit of work,
asks the app's model with no transaction open, and writes the name in a second unit.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from ore.config import Settings
from ore.extensions.http import create_http_clients
from ore.extensions.kv import create_kv
from ore.extensions.model_runtime import ModelRuntime, create_model_runtime
from ore.extensions.tasks import TaskContext, task
from ore.models import Conversation
from ore.services import conversations


@asynccontextmanager
async def model_runtime(settings: Settings) -> AsyncIterator[ModelRuntime]:
    """A model runtime for one task run: the task context carries settings and the
    database only, and a worker process has no request context to borrow one from."""
    kv = create_kv(settings)
    http = create_http_clients(settings)
    try:
        yield create_model_runtime(settings, kv, http)
    finally:
        await http.aclose()
        await kv.close()


@task("conversation.generate_name")
async def generate_name(ctx: TaskContext, conversation_id: str) -> dict[str, Any]:
    """Name the conversation from its first query with the app's model (the query's first
    words when the model cannot answer), unless it was renamed in the meantime."""
    wanted = uuid.UUID(conversation_id)
    async with model_runtime(ctx.settings) as runtime:
        async with ctx.db.unit_of_work() as session:
            conversation = await session.get(Conversation, wanted)
            if conversation is None or conversation.is_deleted:
                return {"skipped": "conversation not found"}
            job = await conversations.naming_job(
                session, runtime, ctx.settings.SECRET_KEY, conversation
            )
        if job is None:
            return {"skipped": "conversation has no message"}
        name = await conversations.suggest_name(job)
    async with ctx.db.unit_of_work() as session:
        saved = await conversations.save_generated_name(session, wanted, name, keep_given=True)
    if saved is None:
        return {"skipped": "conversation deleted while naming"}
    return {"name": saved.name}
