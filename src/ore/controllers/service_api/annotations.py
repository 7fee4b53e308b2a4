"""Annotations over the Service API (spec dify-service-api.md §4, ``/apps/annotation*`` rows).

These routes do not read ``user``. Annotation reply is turned on and off by a job that a
client polls: ``POST /apps/annotation-reply/{action}`` then ``GET …/status/{job_id}``.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from ore.controllers.console.fields import timestamp
from ore.controllers.deps import ContextDep, SessionDep
from ore.controllers.service_api.deps import ServiceApp, StreamingApp
from ore.core.errors import InvalidParam
from ore.models import MessageAnnotation
from ore.services import annotations as annotation_service

router = APIRouter(tags=["service-api: annotations"])

ANNOTATIONS = "/v1/apps/annotations"
ANNOTATION = ANNOTATIONS + "/{annotation_id:uuid}"
REPLY = "/v1/apps/annotation-reply/{action}"
MAX_LIMIT = 100
ModelName = Annotated[str, Field(min_length=1, max_length=255)]


class AnnotationBody(BaseModel):
    question: str
    answer: str


class ReplyBody(BaseModel):
    """All three fields are required, even to disable (matches Dify)."""

    model_config = ConfigDict(allow_inf_nan=False)

    embedding_provider_name: ModelName
    embedding_model_name: ModelName
    score_threshold: Annotated[float, Field(ge=0, le=1)]


def annotation_out(row: MessageAnnotation) -> dict[str, Any]:
    return {
        "id": str(row.id),
        "question": row.question,
        "answer": row.content,
        "hit_count": row.hit_count,
        "created_at": timestamp(row.created_at),
    }


def _action(value: str) -> annotation_service.ReplyAction:
    if value == "enable":
        return "enable"
    if value == "disable":
        return "disable"
    raise InvalidParam("Unsupported annotation reply action.")


@router.post(ANNOTATIONS, status_code=201)
async def create_annotation(
    body: AnnotationBody, app: StreamingApp, context: ContextDep
) -> dict[str, Any]:
    """With reply on, the question is embedded after the row commits (no session held
    while the model works) and before the answer, so the next match finds its vector."""
    async with context.db.unit_of_work() as session:
        row = await annotation_service.create_annotation(
            session, app, question=body.question, answer=body.answer
        )
        work = await annotation_service.question_work(
            session, context.models, context.settings.SECRET_KEY, app, row
        )
        created = annotation_out(row)
    await annotation_service.refresh_question(context.db, work)
    return created


@router.get(ANNOTATIONS)
async def list_annotations(
    app: ServiceApp,
    session: SessionDep,
    page: Annotated[int, Query(ge=1, le=99999)] = 1,
    limit: Annotated[int, Query(ge=1)] = 20,
    keyword: Annotated[str | None, Query(max_length=255)] = None,
) -> dict[str, Any]:
    """matches Dify: ``limit`` is capped at 100 and ``has_more`` is a full page."""
    limit = min(limit, MAX_LIMIT)
    rows, total = await annotation_service.list_annotations(
        session, app, page=page, limit=limit, keyword=keyword
    )
    return {
        "data": [annotation_out(row) for row in rows],
        "has_more": len(rows) == limit,
        "limit": limit,
        "total": total,
        "page": page,
    }


@router.put(ANNOTATION)
async def update_annotation(
    annotation_id: uuid.UUID, body: AnnotationBody, app: StreamingApp, context: ContextDep
) -> dict[str, Any]:
    """A new question is embedded as on create; the old question's vector is dropped."""
    async with context.db.unit_of_work() as session:
        row = await annotation_service.update_annotation(
            session, app, annotation_id, question=body.question, answer=body.answer
        )
        work = await annotation_service.question_work(
            session, context.models, context.settings.SECRET_KEY, app, row
        )
        updated = annotation_out(row)
    await annotation_service.refresh_question(context.db, work)
    return updated


@router.delete(ANNOTATION, status_code=204)
async def delete_annotation(
    annotation_id: uuid.UUID, app: ServiceApp, session: SessionDep
) -> Response:
    await annotation_service.delete_annotation(session, app, annotation_id)
    return Response(status_code=204)


@router.post(REPLY)
async def start_annotation_reply(
    action: str, body: ReplyBody, app: ServiceApp, session: SessionDep, context: ContextDep
) -> dict[str, str]:
    settings = annotation_service.ReplySettings(
        provider=body.embedding_provider_name,
        model=body.embedding_model_name,
        score_threshold=body.score_threshold,
    )
    return await annotation_service.start_reply_job(
        session, context.kv, context.models, app, _action(action), settings
    )


@router.get(REPLY + "/status/{job_id}")
async def annotation_reply_status(
    action: str, job_id: str, app: ServiceApp, session: SessionDep, context: ContextDep
) -> dict[str, Any]:
    return await annotation_service.reply_job_status(
        session, context.kv, app, _action(action), job_id
    )
