"""Messages as the Service API sees them: history pages and suggested next questions.

A message is looked up by (app, ``from_source='api'``, end user), as Dify does, so feedback
or suggestions for another user's message, or another app's, are 404 ``Message Not Exists.``
(spec dify-service-api.md section 1). Suggestions call the app's model and follow the
split of :mod:`ore.services.conversations`: read in a unit of work, call after it.
"""

from __future__ import annotations

import re
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from ore.core.errors import BadRequest, NotFound
from ore.extensions.model_runtime import ModelRuntime
from ore.models import App, Conversation, EndUser, Message, MessageFeedback, MessageFile, UploadFile
from ore.services import apps
from ore.services.conversations import SERVICE_API_SOURCE, app_model, ask_model, parse_id
from ore.services.feedbacks import USER_SOURCE
from ore.services.model_providers import BoundModel

SUGGESTED_QUESTIONS = 3
_SUGGESTION_MAX_CHARS = 120
_HISTORY_TURNS = 3
_HISTORY_CHARS = 1000
_SUGGESTION_MAX_TOKENS = 96
_SUGGESTION_PROMPT = (
    "Here is a conversation between a user and an assistant.\n\n{history}\n\n"
    "Suggest the three questions the user is most likely to ask next. Keep each one "
    "short, in the conversation's language, and write one question per line with no "
    "numbering."
)
_BULLET = re.compile(r"^\s*(?:[-*•]+|\d+[.)]|Q\d*[:.])\s*", re.IGNORECASE)


class MessageNotExists(NotFound):
    default_message = "Message Not Exists."


class FirstMessageNotExists(NotFound):
    default_message = "First Message Not Exists."


class SuggestedQuestionsDisabled(BadRequest):
    default_message = "Suggested Questions Is Disabled."


async def owned_message(
    session: AsyncSession, app: App, end_user: EndUser | None, message_id: str | None
) -> Message:
    """The end user's Service API message in this app; 404 ``Message Not Exists.``."""
    wanted = parse_id(message_id)
    if end_user is None or wanted is None:
        raise MessageNotExists()
    found: Message | None = await session.scalar(
        select(Message).where(
            Message.id == wanted,
            Message.app_id == app.id,
            Message.tenant_id == app.tenant_id,
            Message.from_source == SERVICE_API_SOURCE,
            Message.from_end_user_id == end_user.id,
        )
    )
    if found is None:
        raise MessageNotExists()
    return found


async def history_page(
    session: AsyncSession, conversation: Conversation, *, first_id: str | None, limit: int
) -> tuple[list[Message], bool]:
    """The ``limit`` messages before ``first_id`` (the latest ones without it), oldest
    first, and whether older ones exist (spec section 8)."""
    query = select(Message).where(Message.conversation_id == conversation.id)
    if first_id:
        wanted = parse_id(first_id)
        first = None
        if wanted is not None:
            first = await session.scalar(
                select(Message).where(
                    Message.id == wanted, Message.conversation_id == conversation.id
                )
            )
        if first is None:
            raise FirstMessageNotExists()
        query = query.where(older_than(first))
    newest_first = query.order_by(Message.created_at.desc(), Message.id.desc()).limit(limit + 1)
    rows = list((await session.scalars(newest_first)).all())
    page = rows[:limit]
    page.reverse()
    return page, len(rows) > limit


def older_than(message: Message) -> ColumnElement[bool]:
    """Messages older than ``message``, ties on time broken by id (a stable cursor)."""
    return or_(
        Message.created_at < message.created_at,
        and_(Message.created_at == message.created_at, Message.id < message.id),
    )


@dataclass(frozen=True)
class AttachedFile:
    file: MessageFile
    upload: UploadFile | None


@dataclass(frozen=True)
class MessageView:
    """A message with what its Service API item shows besides its own columns."""

    message: Message
    feedback: MessageFeedback | None
    files: list[AttachedFile] = field(default_factory=list)


async def views(session: AsyncSession, messages: list[Message]) -> list[MessageView]:
    """The messages with their user feedback and files, in three queries for the page."""
    ids = [message.id for message in messages]
    feedbacks = {
        row.message_id: row
        for row in await session.scalars(
            select(MessageFeedback).where(
                MessageFeedback.message_id.in_(ids),
                MessageFeedback.from_source == USER_SOURCE,
            )
        )
    }
    files: dict[uuid.UUID, list[AttachedFile]] = defaultdict(list)
    attached = await session.execute(
        select(MessageFile, UploadFile)
        .outerjoin(UploadFile, UploadFile.id == MessageFile.upload_file_id)
        .where(MessageFile.message_id.in_(ids))
        .order_by(MessageFile.created_at, MessageFile.id)
    )
    for message_file, upload in attached:
        files[message_file.message_id].append(AttachedFile(message_file, upload))
    return [
        MessageView(message=m, feedback=feedbacks.get(m.id), files=files.get(m.id, []))
        for m in messages
    ]


def retriever_resources(message: Message) -> list[dict[str, Any]]:
    """The citations stored with the answer, each with the message it belongs to."""
    stored = (message.message_metadata or {}).get("retriever_resources") or []
    resources = []
    for position, item in enumerate(stored):
        if not isinstance(item, dict):
            continue
        resource = dict(item)
        resource.setdefault("id", str(uuid.uuid5(message.id, str(position))))
        resource.setdefault("message_id", str(message.id))
        resource.setdefault("created_at", int(message.created_at.timestamp()))
        resources.append(resource)
    return resources


def agent_thoughts(message: Message) -> list[dict[str, Any]]:
    """The agent's turns stored with the answer, in Dify's shape (``chain_id`` is always
    null: ore has no message chains), oldest first."""
    stored = (message.message_metadata or {}).get("agent_thoughts") or []
    thoughts = [
        {**item, "chain_id": None, "message_id": str(message.id)}
        for item in stored
        if isinstance(item, dict)
    ]
    return sorted(thoughts, key=lambda thought: thought.get("position") or 0)


@dataclass(frozen=True)
class SuggestionJob:
    model: BoundModel | None
    history: str


async def suggestion_job(
    session: AsyncSession, runtime: ModelRuntime, secret_key: str, app: App, message: Message
) -> SuggestionJob:
    """What suggesting questions after ``message`` needs; 400 when the app turned the
    feature off."""
    config = await apps.current_config(session, app)
    features = apps.config_dict(config) if config is not None else {}
    switch = features.get("suggested_questions_after_answer") or {}
    if not switch.get("enabled"):
        raise SuggestedQuestionsDisabled()
    turns = (
        await session.scalars(
            select(Message)
            .where(
                Message.conversation_id == message.conversation_id,
                Message.created_at <= message.created_at,
            )
            .order_by(Message.created_at.desc(), Message.id.desc())
            .limit(_HISTORY_TURNS)
        )
    ).all()
    lines = []
    for turn in reversed(turns):
        lines.append(f"User: {turn.query[:_HISTORY_CHARS]}")
        lines.append(f"Assistant: {turn.answer[:_HISTORY_CHARS]}")
    model = await app_model(session, runtime, secret_key, app)
    return SuggestionJob(model=model, history="\n".join(lines))


async def suggest_questions(job: SuggestionJob) -> list[str]:
    """Up to three short questions from the app's model; none when the call fails."""
    answer = await ask_model(
        job.model, _SUGGESTION_PROMPT.format(history=job.history), _SUGGESTION_MAX_TOKENS
    )
    return parse_questions(answer or "")


def parse_questions(text: str) -> list[str]:
    """One question per non-empty line, without bullets or numbering, at most three."""
    questions: list[str] = []
    for line in text.splitlines():
        question = " ".join(_BULLET.sub("", line).strip(" \"'`*").split())
        if question and len(question) <= _SUGGESTION_MAX_CHARS and question not in questions:
            questions.append(question)
        if len(questions) == SUGGESTED_QUESTIONS:
            break
    return questions
