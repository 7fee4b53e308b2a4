"""Annotations of an app and annotation reply (spec dify-service-api.md §4, annotation rows).

An annotation is a curated question and answer. With annotation reply on, a query whose
embedding is close enough to an annotation's question (cosine similarity at or above the
app's ``score_threshold``) is answered with the annotation instead of the model:
:func:`match_annotation` is what the generation routes call.

Turning reply on or off is a job, as in Dify: the request answers ``{job_id, job_status}``
at once and a client polls the status route. The job record (which app, which action)
lives in the KV with a TTL, so an unknown or expired job is Dify's 400 ``The job does not
exist.``; the status itself is the task run's (``task_runs``), which every process can read
whatever the task backend. Disabling needs no model, so it completes in the request.

Each annotation keeps its question's vector on its row (``question_embedding``), with the
``provider/model`` that made it (``embedding_model``). Enabling reply embeds every question
that has no vector of the chosen model; creating or editing an annotation while reply is
on embeds that question; a match then embeds only the query, plus any question still
without a vector of the current model (stored on the spot), and compares it with the
stored vectors. Embedding happens outside any unit of work where the caller allows it
(the enable task, the create and update routes): vectors are written in short units after.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, cast

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import ColumnElement, CursorResult, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import defer

from ore.core.errors import BadRequest, InvalidParam, NotFound, OreError
from ore.core.kv import KV
from ore.core.model_runtime.catalogue import ModelType
from ore.extensions.database import Database
from ore.extensions.model_runtime import ModelRuntime
from ore.extensions.tasks import enqueue
from ore.models import App, AppModelConfig, MessageAnnotation, TaskRun, TaskStatus
from ore.services import apps
from ore.services.model_providers import BoundModel, bind_model, check_model, provider_id

logger = logging.getLogger(__name__)

ENABLE_TASK = "annotation.enable_reply"
JOB_TTL = 24 * 3600
EMBED_BATCH = 64
EMBEDDING: ModelType = "text-embedding"
ReplyAction = Literal["enable", "disable"]
# Dify's job states, from the task run's.
_JOB_STATUS = {
    TaskStatus.QUEUED: "waiting",
    TaskStatus.RUNNING: "processing",
    TaskStatus.COMPLETED: "completed",
    TaskStatus.ERROR: "error",
}


class AnnotationNotFound(NotFound):
    default_message = "Annotation not found"


class JobNotFound(InvalidParam):
    default_message = "The job does not exist."


class AppUnavailable(BadRequest):
    code = "app_unavailable"
    default_message = "App unavailable, please check your app configurations."


@dataclass(frozen=True, slots=True)
class ReplySettings:
    """What annotation reply needs from the app's model config."""

    provider: str
    model: str
    score_threshold: float

    @property
    def vector_model(self) -> str:
        """The ``embedding_model`` of the vectors this model makes (``provider/model``)."""
        return f"{provider_id(self.provider)}/{self.model}"


@dataclass(frozen=True, slots=True)
class PendingQuestion:
    """An annotation question that needs a vector of the reply's model."""

    annotation_id: uuid.UUID
    question: str


@dataclass(frozen=True, slots=True)
class QuestionWork:
    """Questions to embed, with the bound model: found in one unit of work, embedded after
    it has closed (see :func:`embed_and_store`)."""

    model: BoundModel
    vector_model: str
    pending: list[PendingQuestion]


Progress = Callable[[int, int], Awaitable[None]]


# --- annotations -------------------------------------------------------------------------


async def list_annotations(
    session: AsyncSession, app: App, *, page: int, limit: int, keyword: str | None
) -> tuple[Sequence[MessageAnnotation], int]:
    """One page of the app's annotations, newest first, and how many match in all.

    ``keyword`` matches the question or the answer, case-insensitively.
    """
    where = [MessageAnnotation.app_id == app.id, MessageAnnotation.tenant_id == app.tenant_id]
    if keyword:
        pattern = f"%{escape_like(keyword)}%"
        where.append(
            or_(
                MessageAnnotation.question.ilike(pattern, escape="\\"),
                MessageAnnotation.content.ilike(pattern, escape="\\"),
            )
        )
    total = await session.scalar(select(func.count()).select_from(MessageAnnotation).where(*where))
    rows = await session.scalars(
        select(MessageAnnotation)
        .options(defer(MessageAnnotation.question_embedding))
        .where(*where)
        .order_by(MessageAnnotation.created_at.desc(), MessageAnnotation.id)
        .offset((page - 1) * limit)
        .limit(limit)
    )
    return rows.all(), int(total or 0)


def escape_like(text: str) -> str:
    """``text`` as a literal inside a LIKE pattern whose escape character is ``\\``."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


async def get_annotation(
    session: AsyncSession, app: App, annotation_id: uuid.UUID
) -> MessageAnnotation:
    """The app's annotation with that id; 404 ``Annotation not found`` otherwise."""
    row = await session.scalar(
        select(MessageAnnotation).where(
            MessageAnnotation.id == annotation_id,
            MessageAnnotation.app_id == app.id,
            MessageAnnotation.tenant_id == app.tenant_id,
        )
    )
    if row is None:
        raise AnnotationNotFound()
    return row


async def create_annotation(
    session: AsyncSession,
    app: App,
    *,
    question: str,
    answer: str,
    account_id: uuid.UUID | None = None,
) -> MessageAnnotation:
    row = MessageAnnotation(
        tenant_id=app.tenant_id,
        app_id=app.id,
        question=question,
        content=answer,
        account_id=account_id,
    )
    session.add(row)
    await session.flush()
    return row


async def update_annotation(
    session: AsyncSession, app: App, annotation_id: uuid.UUID, *, question: str, answer: str
) -> MessageAnnotation:
    """Change an annotation; a new question drops the vector of the old one."""
    row = await get_annotation(session, app, annotation_id)
    if row.question != question:
        row.question_embedding = None
        row.embedding_model = None
    row.question = question
    row.content = answer
    await session.flush()
    return row


async def delete_annotation(session: AsyncSession, app: App, annotation_id: uuid.UUID) -> None:
    row = await get_annotation(session, app, annotation_id)
    await session.delete(row)
    await session.flush()


async def count_annotations(session: AsyncSession, app: App) -> int:
    total = await session.scalar(
        select(func.count())
        .select_from(MessageAnnotation)
        .where(MessageAnnotation.app_id == app.id, MessageAnnotation.tenant_id == app.tenant_id)
    )
    return int(total or 0)


# --- annotation reply settings -----------------------------------------------------------


def reply_settings(config: AppModelConfig | None) -> ReplySettings | None:
    """The app's annotation reply, when it is on and names an embedding model."""
    stored = (config.annotation_reply if config is not None else None) or {}
    model = stored.get("embedding_model") or {}
    if not stored.get("enabled") or not isinstance(model, dict):
        return None
    provider, name = model.get("embedding_provider_name"), model.get("embedding_model_name")
    if not isinstance(provider, str) or not isinstance(name, str):
        return None
    return ReplySettings(
        provider=provider, model=name, score_threshold=float(stored.get("score_threshold", 0))
    )


def reply_config(settings: ReplySettings | None) -> dict[str, Any]:
    """The ``annotation_reply`` entry of a model config (Dify's shape)."""
    if settings is None:
        return {"enabled": False}
    return {
        "enabled": True,
        "score_threshold": settings.score_threshold,
        "embedding_model": {
            "embedding_provider_name": settings.provider,
            "embedding_model_name": settings.model,
        },
    }


async def _config_of(session: AsyncSession, app: App) -> AppModelConfig:
    config = await apps.current_config(session, app)
    if config is None:
        raise AppUnavailable()
    return config


async def question_work(
    session: AsyncSession,
    runtime: ModelRuntime,
    secret_key: str,
    app: App,
    row: MessageAnnotation,
) -> QuestionWork | None:
    """What embedding a new or edited question needs when reply is on (None when it is
    off, or when the row already holds a vector of the reply's model).

    A model that cannot be bound is logged, not raised: the annotation is saved either
    way, and the next match embeds any question that has no vector.
    """
    settings = reply_settings(await apps.current_config(session, app))
    if settings is None or row.embedding_model == settings.vector_model:
        return None
    try:
        model = await _embedding_model(session, runtime, secret_key, app, settings)
    except OreError:
        logger.warning("no embedding model for the annotations of app %s", app.id, exc_info=True)
        return None
    pending = [PendingQuestion(row.id, row.question)]
    return QuestionWork(model, settings.vector_model, pending)


async def refresh_question(db: Database, work: QuestionWork | None) -> None:
    """Embed and store the question of :func:`question_work`, with no session held while
    the model works; a failure is logged like a model that cannot be bound."""
    if work is None:
        return
    try:
        await embed_and_store(db, work)
    except OreError:
        logger.warning("could not embed an annotation question", exc_info=True)


async def _embedding_model(
    session: AsyncSession,
    runtime: ModelRuntime,
    secret_key: str,
    app: App,
    settings: ReplySettings,
) -> BoundModel:
    return await bind_model(
        session,
        runtime,
        secret_key,
        app.tenant_id,
        provider_id(settings.provider),
        settings.model,
        EMBEDDING,
    )


# --- the enable and disable jobs ---------------------------------------------------------


def _job_key(action: str, job_id: str) -> str:
    return f"annotation-reply:{action}:{job_id}"


async def start_reply_job(
    session: AsyncSession,
    kv: KV,
    runtime: ModelRuntime,
    app: App,
    action: ReplyAction,
    settings: ReplySettings,
) -> dict[str, str]:
    """Start turning annotation reply on or off; answers Dify's ``{job_id, job_status}``.

    Enabling checks that the provider knows the embedding model (400 otherwise, before any
    job exists) and queues :data:`ENABLE_TASK`, which runs after this unit of work commits;
    disabling completes here.
    """
    config = await _config_of(session, app)
    if action == "enable":
        check_model(runtime.adapter(provider_id(settings.provider)), settings.model, EMBEDDING)
        job_id = enqueue(
            session,
            ENABLE_TASK,
            {
                "app_id": str(app.id),
                "provider": settings.provider,
                "model": settings.model,
                "score_threshold": settings.score_threshold,
            },
            tenant_id=app.tenant_id,
        )
        record: dict[str, Any] = {"app_id": str(app.id), "run_id": str(job_id)}
        status = "waiting"
    else:
        config.annotation_reply = reply_config(None)
        apps.forget_config(session, config.id)
        await session.flush()
        job_id = uuid.uuid4()
        record = {"app_id": str(app.id), "status": "completed"}
        status = "completed"
    await kv.set(_job_key(action, str(job_id)), json.dumps(record), ttl=JOB_TTL)
    return {"job_id": str(job_id), "job_status": status}


async def reply_job_status(
    session: AsyncSession, kv: KV, app: App, action: str, job_id: str
) -> dict[str, Any]:
    """``{job_id, job_status, error_msg}`` of a job of this app; 400 when there is none."""
    raw = await kv.get(_job_key(action, job_id))
    record = json.loads(raw) if raw is not None else None
    if not isinstance(record, dict) or record.get("app_id") != str(app.id):
        raise JobNotFound()
    if "run_id" not in record:
        return {"job_id": job_id, "job_status": record.get("status"), "error_msg": ""}
    run = await session.get(TaskRun, uuid.UUID(record["run_id"]))
    if run is None:
        raise JobNotFound()
    status = _JOB_STATUS.get(TaskStatus(run.status), "waiting")
    error = run.error or "" if status == "error" else ""
    return {"job_id": job_id, "job_status": status, "error_msg": error}


async def prepare_enable(
    session: AsyncSession,
    runtime: ModelRuntime,
    secret_key: str,
    app_id: uuid.UUID,
    settings: ReplySettings,
) -> QuestionWork:
    """The embedding model and the questions that enabling reply must embed: those with no
    vector, or a vector another model made. The task embeds them after this unit of work.
    """
    app = await session.get(App, app_id)
    if app is None:
        raise apps.AppNotFound()
    await _config_of(session, app)
    model = await _embedding_model(session, runtime, secret_key, app, settings)
    rows = await session.execute(
        select(MessageAnnotation.id, MessageAnnotation.question)
        .where(
            MessageAnnotation.app_id == app.id,
            MessageAnnotation.tenant_id == app.tenant_id,
            _lacks_vector(settings.vector_model),
        )
        .order_by(MessageAnnotation.created_at, MessageAnnotation.id)
    )
    pending = [PendingQuestion(row_id, question) for row_id, question in rows]
    return QuestionWork(model, settings.vector_model, pending)


def _lacks_vector(vector_model: str) -> ColumnElement[bool]:
    # embedding_model is written with the vector and cleared with it, so it alone tells.
    return or_(
        MessageAnnotation.embedding_model.is_(None),
        MessageAnnotation.embedding_model != vector_model,
    )


async def embed_and_store(
    db: Database, work: QuestionWork, progress: Progress | None = None
) -> int:
    """Embed the questions in batches a provider accepts, each outside any unit of work,
    then store its vectors in a short one; ``progress(done, total)`` after each batch.

    Returns how many vectors were stored: a question edited in the meantime keeps no
    stale vector (:func:`store_vectors`).
    """
    stored = 0
    total = len(work.pending)
    for start in range(0, total, EMBED_BATCH):
        batch = work.pending[start : start + EMBED_BATCH]
        result = await work.model.embed([item.question for item in batch])
        async with db.unit_of_work() as session:
            stored += await store_vectors(session, work.vector_model, batch, result.embeddings)
        if progress is not None:
            await progress(start + len(batch), total)
    return stored


async def store_vectors(
    session: AsyncSession,
    vector_model: str,
    pending: Sequence[PendingQuestion],
    vectors: Sequence[Sequence[float]],
) -> int:
    """Write each vector on its annotation, only if the question is still the one embedded."""
    stored = 0
    for item, vector in zip(pending, vectors, strict=True):
        result = await session.execute(
            update(MessageAnnotation)
            .where(
                MessageAnnotation.id == item.annotation_id,
                MessageAnnotation.question == item.question,
            )
            .values(
                question_embedding=[float(value) for value in vector], embedding_model=vector_model
            )
            .execution_options(synchronize_session=False)
        )
        stored += cast(CursorResult[Any], result).rowcount
    return stored


async def finish_enable(session: AsyncSession, app_id: uuid.UUID, settings: ReplySettings) -> None:
    """Turn reply on with ``settings`` in the app's current model config."""
    app = await session.get(App, app_id)
    if app is None:
        raise apps.AppNotFound()
    config = await _config_of(session, app)
    config.annotation_reply = reply_config(settings)
    apps.forget_config(session, config.id)
    await session.flush()


# --- matching a query --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class QueryVector:
    """A query embedded before the unit of work that matches it, so that the embedding call
    (network work) does not run inside the unit."""

    vector_model: str
    vector: list[float]


async def reply_model(
    session: AsyncSession, runtime: ModelRuntime, secret_key: str, app: App
) -> tuple[ReplySettings, BoundModel] | None:
    """The app's reply settings and its bound embedding model, when reply is on and the app
    has annotations to match (else None: a query need not be embedded)."""
    settings = reply_settings(await apps.current_config(session, app))
    if settings is None:
        return None
    any_annotation = await session.scalar(
        select(MessageAnnotation.id)
        .where(MessageAnnotation.app_id == app.id, MessageAnnotation.tenant_id == app.tenant_id)
        .limit(1)
    )
    if any_annotation is None:
        return None
    return settings, await _embedding_model(session, runtime, secret_key, app, settings)


async def embed_query(settings: ReplySettings, model: BoundModel, query: str) -> QueryVector:
    """``query``'s vector for :func:`match_annotation`, from the model of :func:`reply_model`."""
    result = await model.embed([query])
    return QueryVector(settings.vector_model, result.embeddings[0])


async def match_annotation(
    session: AsyncSession,
    runtime: ModelRuntime,
    secret_key: str,
    app: App,
    query: str,
    *,
    ahead: QueryVector | None = None,
) -> tuple[MessageAnnotation, float] | None:
    """The annotation whose question is closest to ``query``, with its cosine similarity,
    when annotation reply is on and the similarity reaches the app's threshold.

    The query's vector is ``ahead`` when it was embedded beforehand with the reply's model
    (:func:`embed_query`); otherwise it is embedded here. Questions still without a vector
    of the reply's model are embedded here too, in the same call (their vectors are stored
    in the caller's unit of work). A match counts as a hit (``hit_count`` + 1, in the
    caller's unit of work). None when reply is off, the app has no annotations, or nothing
    is close enough.
    """
    settings = reply_settings(await apps.current_config(session, app))
    if settings is None or not query.strip():
        return None
    rows = list(
        await session.scalars(
            select(MessageAnnotation).where(
                MessageAnnotation.app_id == app.id, MessageAnnotation.tenant_id == app.tenant_id
            )
        )
    )
    if not rows:
        return None
    missing = [row for row in rows if not _has_vector(row, settings.vector_model)]
    texts = [row.question for row in missing]
    if ahead is not None and ahead.vector_model == settings.vector_model:
        query_vector = ahead.vector
        fresh = []
        if texts:
            model = await _embedding_model(session, runtime, secret_key, app, settings)
            fresh = (await model.embed(texts)).embeddings
    else:
        model = await _embedding_model(session, runtime, secret_key, app, settings)
        query_vector, *fresh = (await model.embed([query, *texts])).embeddings
    pending = [PendingQuestion(row.id, row.question) for row in missing]
    await store_vectors(session, settings.vector_model, pending, fresh)
    vectors = {row.id: vector for row, vector in zip(missing, fresh, strict=True)}
    stored = [vectors.get(row.id) or row.question_embedding or [] for row in rows]
    await _drop_stale(
        session,
        [row for row, vector in zip(rows, stored, strict=True) if len(vector) != len(query_vector)],
    )
    scores = similarities(query_vector, stored)
    best = int(np.argmax(scores))
    if scores[best] < settings.score_threshold:
        return None
    annotation = rows[best]
    await session.execute(
        update(MessageAnnotation)
        .where(MessageAnnotation.id == annotation.id)
        .values(hit_count=MessageAnnotation.hit_count + 1)
    )
    await session.refresh(annotation, ["hit_count"])
    return annotation, float(scores[best])


def _has_vector(row: MessageAnnotation, vector_model: str) -> bool:
    return row.embedding_model == vector_model and bool(row.question_embedding)


async def _drop_stale(session: AsyncSession, rows: Sequence[MessageAnnotation]) -> None:
    """Forget vectors whose dimension is not the query's (the model's output changed under
    the same name), so the next match or enable embeds those questions again."""
    if rows:
        await session.execute(
            update(MessageAnnotation)
            .where(MessageAnnotation.id.in_([row.id for row in rows]))
            .values(question_embedding=None, embedding_model=None)
            .execution_options(synchronize_session=False)
        )


def similarities(query: Sequence[float], vectors: Sequence[Sequence[float]]) -> NDArray[np.float64]:
    """Cosine similarity of ``query`` with each vector; 0 for a zero vector or one of
    another dimension."""
    target = np.asarray(query, dtype=np.float64)
    width = target.shape[0]
    matrix = np.zeros((len(vectors), width), dtype=np.float64)
    for index, vector in enumerate(vectors):
        if len(vector) == width:
            matrix[index] = vector
    norms = np.linalg.norm(matrix, axis=1) * np.linalg.norm(target)
    dots = matrix @ target
    scores: NDArray[np.float64] = np.divide(dots, norms, out=np.zeros_like(dots), where=norms > 0)
    return scores
