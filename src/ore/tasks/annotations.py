"""Annotation tasks: turning annotation reply on embeds the app's questions and stores the
vectors on the annotation rows."""

from __future__ import annotations

import uuid
from typing import Any

from ore.extensions.tasks import TaskContext, task
from ore.services import annotations as annotation_service


@task(annotation_service.ENABLE_TASK)
async def enable_reply(
    ctx: TaskContext, app_id: str, provider: str, model: str, score_threshold: float
) -> dict[str, Any]:
    """Embed the app's annotation questions that have no vector of ``provider``/``model``,
    store the vectors, then the app's annotation reply setting. The process's model runtime
    makes the calls; no session is held while the model works. A model error fails the run
    with its message and leaves the setting as it was (vectors stored so far are kept)."""
    settings = annotation_service.ReplySettings(
        provider=provider, model=model, score_threshold=float(score_threshold)
    )
    app = uuid.UUID(app_id)
    async with ctx.db.unit_of_work() as session:
        work = await annotation_service.prepare_enable(
            session, ctx.models, ctx.settings.SECRET_KEY, app, settings
        )

    async def progress(done: int, total: int) -> None:
        await ctx.progress({"embedded": done, "total": total})

    stored = await annotation_service.embed_and_store(ctx.db, work, progress)
    async with ctx.db.unit_of_work() as session:
        await annotation_service.finish_enable(session, app, settings)
    return {"app_id": app_id, "embedded": stored}
