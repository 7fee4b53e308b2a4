"""Conversations as the Service API sees them: one app, one end user, ``from_source='api'``.

Every lookup filters on the app (and so its workspace) and the end user, so an id of
another app or another ``user`` is 404 ``Conversation Not Exists.``, exactly like an
unknown id (spec dify-service-api.md section 1, "What user scopes").

Naming a conversation calls the app's own model. That call is slow next to a query, so it
is split in two: :func:`naming_job` reads what the call needs inside a unit of work, and
:func:`suggest_name` runs after that unit has closed (on SQLite an open unit would hold the
process's only write slot while the model thinks).
"""

from __future__ import annotations

import logging
import re
import uuid
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from ore.core.errors import BadRequest, InvalidParam, NotFound, OreError
from ore.core.model_runtime import ChatMessage, ChatRequest
from ore.extensions.model_runtime import ModelRuntime
from ore.models import App, AppMode, Conversation, EndUser, Message
from ore.services import apps
from ore.services.model_providers import BoundModel, bind_model, provider_id

logger = logging.getLogger(__name__)

SERVICE_API_SOURCE = "api"
CHAT_MODES = frozenset({AppMode.CHAT, AppMode.AGENT_CHAT, AppMode.ADVANCED_CHAT})
SortBy = Literal["created_at", "-created_at", "updated_at", "-updated_at"]
NAME_MAX_LENGTH = 255
# A generated name is a title, not a summary: a few words, cut at a word boundary.
GENERATED_NAME_MAX_CHARS = 60
FALLBACK_NAME_WORDS = 6
# The name generation gives a new conversation until it is named.
DEFAULT_NAME = "New conversation"
_QUERY_CHARS_FOR_NAMING = 2000
_NAMING_PROMPT = (
    "Write a short title, at most six words, for a conversation that begins with the "
    "user's message below. Use the message's language. Reply with the title only, "
    "without quotes.\n\nMessage:\n{query}"
)
_NAMING_MAX_TOKENS = 24
_TITLE_PREFIX = re.compile(r"^(title|name|conversation title)\s*[:：-]\s*", re.IGNORECASE)
_TITLE_TRIM = " \t\"'`*#“”‘’「」.。:"


class NotChatApp(BadRequest):
    code = "not_chat_app"
    default_message = "Please check if your app mode matches the right API route."


class ConversationNotExists(NotFound):
    default_message = "Conversation Not Exists."


class LastConversationNotExists(NotFound):
    default_message = "Last Conversation Not Exists."


class NameRequired(InvalidParam):
    default_message = "name is required when auto_generate is false"


class NoMessageToName(NotFound):
    """Auto-naming reads the first message; a conversation without one has nothing to name."""

    default_message = "Message Not Exists."


def require_chat_app(app: App) -> None:
    """400 ``not_chat_app`` unless the app is of the chat family (spec section 4)."""
    if app.mode not in CHAT_MODES:
        raise NotChatApp()


def parse_id(value: str | None) -> uuid.UUID | None:
    """A UUID from a path or query value; None for anything that is not one (an id that
    cannot exist is answered like an unknown one)."""
    if not value:
        return None
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


def _scope(app: App, end_user: EndUser) -> ColumnElement[bool]:
    return and_(
        Conversation.app_id == app.id,
        Conversation.tenant_id == app.tenant_id,
        Conversation.from_source == SERVICE_API_SOURCE,
        Conversation.from_end_user_id == end_user.id,
        Conversation.is_deleted.is_(False),
    )


async def owned_conversation(
    session: AsyncSession, app: App, end_user: EndUser | None, conversation_id: str | None
) -> Conversation:
    """The end user's conversation in this app; 404 ``Conversation Not Exists.`` otherwise."""
    wanted = parse_id(conversation_id)
    if end_user is None or wanted is None:
        raise ConversationNotExists()
    found: Conversation | None = await session.scalar(
        select(Conversation).where(Conversation.id == wanted, _scope(app, end_user))
    )
    if found is None:
        raise ConversationNotExists()
    return found


async def list_conversations(
    session: AsyncSession,
    app: App,
    end_user: EndUser | None,
    *,
    last_id: str | None,
    limit: int,
    sort_by: SortBy,
) -> tuple[list[Conversation], bool]:
    """One page of the end user's conversations in ``sort_by`` order and whether more
    follow. ``last_id`` is the last item of the previous page (404 when it is not one of
    the end user's conversations)."""
    if end_user is None:
        if last_id:
            raise LastConversationNotExists()
        return [], False
    field = sort_by.lstrip("-")
    descending = sort_by.startswith("-")
    column = getattr(Conversation, field)
    query = select(Conversation).where(_scope(app, end_user))
    if last_id:
        wanted = parse_id(last_id)
        last = None
        if wanted is not None:
            last = await session.scalar(
                select(Conversation).where(Conversation.id == wanted, _scope(app, end_user))
            )
        if last is None:
            raise LastConversationNotExists()
        pivot = getattr(last, field)
        # (column, id) is a total order, so equal timestamps neither repeat nor skip rows.
        if descending:
            after = or_(column < pivot, and_(column == pivot, Conversation.id < last.id))
        else:
            after = or_(column > pivot, and_(column == pivot, Conversation.id > last.id))
        query = query.where(after)
    order = (column.desc(), Conversation.id.desc()) if descending else (column, Conversation.id)
    rows = list((await session.scalars(query.order_by(*order).limit(limit + 1))).all())
    return rows[:limit], len(rows) > limit


async def delete_conversation(session: AsyncSession, conversation: Conversation) -> None:
    """Delete the conversation; the database cascades to its messages, feedback and
    message files."""
    await session.delete(conversation)
    await session.flush()


async def rename(session: AsyncSession, conversation: Conversation, name: str | None) -> None:
    """Give the conversation the caller's ``name`` (400 when it is empty)."""
    if name is None or not name.strip():
        raise NameRequired()
    if len(name) > NAME_MAX_LENGTH:
        raise InvalidParam(f"name must be at most {NAME_MAX_LENGTH} characters")
    conversation.name = name
    await session.flush()


async def app_model(
    session: AsyncSession, runtime: ModelRuntime, secret_key: str, app: App
) -> BoundModel | None:
    """The model of the app's current config, bound for calls; None when the app has none
    or the workspace cannot call it (callers then fall back to an answer without it)."""
    config = await apps.current_config(session, app)
    model = config.model if config is not None else None
    provider = model.get("provider") if model else None
    name = model.get("name") if model else None
    if not isinstance(provider, str) or not isinstance(name, str) or not provider or not name:
        return None
    try:
        return await bind_model(
            session, runtime, secret_key, app.tenant_id, provider_id(provider), name
        )
    except OreError as error:
        logger.info("app %s cannot call its model: %s", app.id, error.message)
        return None


async def ask_model(model: BoundModel | None, prompt: str, max_tokens: int) -> str | None:
    """One short, non-streamed answer to ``prompt``; None when there is no model or the
    call fails for any reason (the callers' answers are conveniences with fallbacks)."""
    if model is None:
        return None
    request = ChatRequest(
        model=model.model,
        messages=[ChatMessage(role="user", content=prompt)],
        parameters={"max_tokens": max_tokens},
        stream=False,
    )
    try:
        result = await model.chat(request)
    except Exception:  # any failure of an optional call falls back, never fails the caller
        logger.warning("model call of %s/%s failed", model.provider, model.model, exc_info=True)
        return None
    content = result.message.content
    return content if isinstance(content, str) else None


@dataclass(frozen=True)
class NamingJob:
    model: BoundModel | None
    query: str


async def naming_job(
    session: AsyncSession, runtime: ModelRuntime, secret_key: str, conversation: Conversation
) -> NamingJob | None:
    """The first query of the conversation and its app's model; None without a message."""
    query = await session.scalar(
        select(Message.query)
        .where(Message.conversation_id == conversation.id)
        .order_by(Message.created_at, Message.id)
        .limit(1)
    )
    if query is None:
        return None
    app = await session.get(App, conversation.app_id)
    model = await app_model(session, runtime, secret_key, app) if app is not None else None
    return NamingJob(model=model, query=query)


async def suggest_name(job: NamingJob) -> str:
    """A short title from the app's model, else the query's first words."""
    prompt = _NAMING_PROMPT.format(query=job.query[:_QUERY_CHARS_FOR_NAMING])
    answer = await ask_model(job.model, prompt, _NAMING_MAX_TOKENS)
    return clean_title(answer or "") or fallback_name(job.query)


def clean_title(text: str) -> str:
    """The first non-empty line of a model's answer, without quotes, markup or a
    ``Title:`` lead-in, cut at a word boundary."""
    line = next((line.strip() for line in text.splitlines() if line.strip()), "")
    line = _TITLE_PREFIX.sub("", line).strip(_TITLE_TRIM)
    return _cut(" ".join(line.split()))


def fallback_name(query: str) -> str:
    words = query.split()[:FALLBACK_NAME_WORDS]
    return _cut(" ".join(words)) or DEFAULT_NAME


def _cut(text: str) -> str:
    if len(text) <= GENERATED_NAME_MAX_CHARS:
        return text
    cut = text[:GENERATED_NAME_MAX_CHARS]
    head = cut.rsplit(" ", 1)[0] if " " in cut else cut
    return head.rstrip(" ,;:-")


async def save_generated_name(
    session: AsyncSession, conversation_id: uuid.UUID, name: str, *, keep_given: bool = False
) -> Conversation | None:
    """Store a generated name on the conversation, if it still exists. With ``keep_given``
    (background naming), a name the caller gave meanwhile is kept."""
    conversation = await session.get(Conversation, conversation_id)
    if conversation is None or conversation.is_deleted:
        return None
    if keep_given and conversation.name not in ("", DEFAULT_NAME):
        return conversation
    conversation.name = name
    await session.flush()
    return conversation
