"""Annotation tasks: turning annotation reply on embeds every question of the app."""

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
from ore.services import annotations as annotation_service


@asynccontextmanager
async def _model_runtime(settings: Settings) -> AsyncIterator[ModelRuntime]:
    """A model runtime for one run: a task gets settings and a database, not the API
    process's clients, so it builds its own (the local models are shared per process)."""
    kv = create_kv(settings)
    http = create_http_clients(settings)
    try:
        yield create_model_runtime(settings, kv, http)
    finally:
        await http.aclose()
        await kv.close()


@task(annotation_service.ENABLE_TASK)
async def enable_reply(
    ctx: TaskContext, app_id: str, provider: str, model: str, score_threshold: float
) -> dict[str, Any]:
    """Embed the app's annotation questions with ``provider``/``model``, then store the
    app's annotation reply setting; a model error fails the run with its message and
    leaves the setting as it was."""
    settings = annotation_service.ReplySettings(
        provider=provider, model=model, score_threshold=float(score_threshold)
    )
    app = uuid.UUID(app_id)
    async with _model_runtime(ctx.settings) as runtime:
        async with ctx.db.unit_of_work() as session:
            bound, questions = await annotation_service.prepare_enable(
                session, runtime, ctx.settings.SECRET_KEY, app, settings
            )
        await annotation_service.embed_questions(bound, questions)
    async with ctx.db.unit_of_work() as session:
        await annotation_service.finish_enable(session, app, settings)
    return {"app_id": app_id, "embedded": len(questions)}
