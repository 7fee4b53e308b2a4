"""An app's logs as the console shows them: conversations and messages (console spec §11).

Lists are one page query plus one query per thing the page shows (message counts,
feedback counts, annotations, authors), each keyed by the page's ids, so a page costs
the same whatever its length. Everything is scoped by the app, which the caller has
already found in its workspace.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy import ColumnElement, Select, delete, exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from ore.models import (
    Account,
    App,
    AppModelConfig,
    Conversation,
    EndUser,
    Message,
    MessageAnnotation,
    MessageFeedback,
    MessageFile,
    UploadFile,
    utcnow,
)
from ore.services import feedbacks
from ore.services.annotations import escape_like
from ore.services.conversations import ConversationNotExists
from ore.services.messages import FirstMessageNotExists, MessageNotExists, older_than
from ore.services.statistics import TimeRange

SortBy = Literal["created_at", "-created_at", "updated_at", "-updated_at"]
AnnotationStatus = Literal["annotated", "not_annotated", "all"]


@dataclass(frozen=True, slots=True)
class ConversationFilter:
    keyword: str | None = None
    bounds: TimeRange | None = None
    annotation_status: AnnotationStatus = "all"
    sort_by: SortBy = "-updated_at"


@dataclass(frozen=True, slots=True)
class FeedbackStats:
    like: int = 0
    dislike: int = 0


@dataclass(slots=True)
class ConversationView:
    """A conversation with what its log entry shows."""

    conversation: Conversation
    end_user_session_id: str | None = None
    account_name: str | None = None
    config: AppModelConfig | None = None
    message_count: int = 0
    first_message: Message | None = None
    annotation: MessageAnnotation | None = None
    annotated: bool = False
    user_feedback: FeedbackStats = field(default_factory=FeedbackStats)
    admin_feedback: FeedbackStats = field(default_factory=FeedbackStats)


@dataclass(slots=True)
class MessageView:
    """A message with its feedbacks, annotation and files."""

    message: Message
    feedbacks: list[tuple[MessageFeedback, Account | None]] = field(default_factory=list)
    annotation: tuple[MessageAnnotation, Account | None] | None = None
    files: list[tuple[MessageFile, UploadFile | None]] = field(default_factory=list)


# --- conversations -----------------------------------------------------------------------


def _keyword_clause(keyword: str) -> ColumnElement[bool]:
    """matches Dify: the keyword is looked for in queries, answers, the conversation's
    name and introduction, and the end user's session id."""
    pattern = f"%{escape_like(keyword)}%"
    in_messages = exists().where(
        Message.conversation_id == Conversation.id,
        or_(
            Message.query.ilike(pattern, escape="\\"),
            Message.answer.ilike(pattern, escape="\\"),
        ),
    )
    in_end_user = exists().where(
        EndUser.id == Conversation.from_end_user_id,
        EndUser.session_id.ilike(pattern, escape="\\"),
    )
    return or_(
        in_messages,
        in_end_user,
        Conversation.name.ilike(pattern, escape="\\"),
        Conversation.introduction.ilike(pattern, escape="\\"),
    )


def _filtered(app: App, filters: ConversationFilter) -> Select[Any]:
    query = select(Conversation).where(
        Conversation.app_id == app.id,
        Conversation.tenant_id == app.tenant_id,
        Conversation.is_deleted.is_(False),
    )
    if filters.keyword:
        query = query.where(_keyword_clause(filters.keyword))
    if filters.bounds is not None:
        # matches Dify: the range applies to the column the list is sorted by.
        query = query.where(*filters.bounds.clauses(_sort_column(filters.sort_by)))
    annotated = exists().where(MessageAnnotation.conversation_id == Conversation.id)
    if filters.annotation_status == "annotated":
        query = query.where(annotated)
    elif filters.annotation_status == "not_annotated":
        query = query.where(~annotated)
    return query


def _sort_column(sort_by: SortBy) -> Any:
    return Conversation.updated_at if "updated" in sort_by else Conversation.created_at


def _order(sort_by: SortBy) -> list[Any]:
    column = _sort_column(sort_by)
    first = column.desc() if sort_by.startswith("-") else column.asc()
    return [first, Conversation.id]


async def list_conversations(
    session: AsyncSession, app: App, filters: ConversationFilter, *, page: int, limit: int
) -> tuple[list[ConversationView], int]:
    """One page of the app's conversations and the number that match the filters."""
    query = _filtered(app, filters)
    total = await session.scalar(select(func.count()).select_from(query.subquery()))
    rows = await session.scalars(
        query.order_by(*_order(filters.sort_by)).offset((page - 1) * limit).limit(limit)
    )
    views = [ConversationView(conversation=row) for row in rows]
    await _fill_conversations(session, app, views)
    return views, int(total or 0)


async def get_conversation(
    session: AsyncSession, app: App, conversation_id: uuid.UUID, *, mark_read: bool = False
) -> ConversationView:
    """One conversation of the app with its log details; 404 ``Conversation Not Exists.``.

    ``mark_read`` records the first time the console opened it (matches Dify).
    """
    row = await _conversation(session, app, conversation_id)
    if mark_read and row.read_at is None:
        row.read_at = utcnow()
        await session.flush()
    view = ConversationView(conversation=row)
    await _fill_conversations(session, app, [view])
    return view


async def _conversation(
    session: AsyncSession, app: App, conversation_id: uuid.UUID
) -> Conversation:
    row = await session.scalar(
        select(Conversation).where(
            Conversation.id == conversation_id,
            Conversation.app_id == app.id,
            Conversation.tenant_id == app.tenant_id,
            Conversation.is_deleted.is_(False),
        )
    )
    if row is None:
        raise ConversationNotExists()
    return row


async def delete_conversation(session: AsyncSession, app: App, conversation_id: uuid.UUID) -> None:
    """Delete a conversation; its messages, feedback and files go with it."""
    row = await _conversation(session, app, conversation_id)
    await session.execute(
        delete(Message).where(Message.conversation_id == row.id, Message.app_id == app.id)
    )
    await session.delete(row)
    await session.flush()


async def _fill_conversations(
    session: AsyncSession, app: App, views: Sequence[ConversationView]
) -> None:
    if not views:
        return
    ids = [view.conversation.id for view in views]
    by_id = {view.conversation.id: view for view in views}
    await _fill_authors(session, views)
    await _fill_configs(session, app, views)
    await _fill_message_stats(session, ids, by_id)
    await _fill_feedback_stats(session, ids, by_id)
    await _fill_annotations(session, app, ids, by_id)


async def _fill_authors(session: AsyncSession, views: Sequence[ConversationView]) -> None:
    end_user_ids = {v.conversation.from_end_user_id for v in views} - {None}
    account_ids = {v.conversation.from_account_id for v in views} - {None}
    sessions: dict[uuid.UUID, str] = {}
    names: dict[uuid.UUID, str] = {}
    if end_user_ids:
        found = await session.execute(
            select(EndUser.id, EndUser.session_id).where(EndUser.id.in_(end_user_ids))
        )
        sessions = {row[0]: row[1] for row in found}
    if account_ids:
        found = await session.execute(
            select(Account.id, Account.name).where(Account.id.in_(account_ids))
        )
        names = {row[0]: row[1] for row in found}
    for view in views:
        conversation = view.conversation
        if conversation.from_end_user_id is not None:
            view.end_user_session_id = sessions.get(conversation.from_end_user_id)
        if conversation.from_account_id is not None:
            view.account_name = names.get(conversation.from_account_id)


async def _fill_configs(session: AsyncSession, app: App, views: Sequence[ConversationView]) -> None:
    wanted = {v.conversation.app_model_config_id for v in views} - {None}
    current = app.app_model_config_id
    if current is not None:
        wanted.add(current)
    if not wanted:
        return
    rows = await session.scalars(
        select(AppModelConfig).where(AppModelConfig.id.in_(wanted), AppModelConfig.app_id == app.id)
    )
    configs = {row.id: row for row in rows}
    for view in views:
        # A conversation without a recorded config shows the app's current one.
        key = view.conversation.app_model_config_id or current
        view.config = configs.get(key) if key is not None else None


async def _fill_message_stats(
    session: AsyncSession, ids: list[uuid.UUID], by_id: dict[uuid.UUID, ConversationView]
) -> None:
    counts = await session.execute(
        select(Message.conversation_id, func.count(Message.id))
        .where(Message.conversation_id.in_(ids))
        .group_by(Message.conversation_id)
    )
    for conversation_id, count in counts:
        by_id[conversation_id].message_count = int(count)
    first_times = (
        select(Message.conversation_id, func.min(Message.created_at).label("first_at"))
        .where(Message.conversation_id.in_(ids))
        .group_by(Message.conversation_id)
        .subquery()
    )
    firsts = await session.scalars(
        select(Message)
        .join(
            first_times,
            (Message.conversation_id == first_times.c.conversation_id)
            & (Message.created_at == first_times.c.first_at),
        )
        .order_by(Message.created_at, Message.id)
    )
    for message in firsts:
        view = by_id[message.conversation_id]
        if view.first_message is None:
            view.first_message = message


async def _fill_feedback_stats(
    session: AsyncSession, ids: list[uuid.UUID], by_id: dict[uuid.UUID, ConversationView]
) -> None:
    rows = await session.execute(
        select(
            MessageFeedback.conversation_id,
            MessageFeedback.from_source,
            MessageFeedback.rating,
            func.count(MessageFeedback.id),
        )
        .where(MessageFeedback.conversation_id.in_(ids))
        .group_by(
            MessageFeedback.conversation_id, MessageFeedback.from_source, MessageFeedback.rating
        )
    )
    counts: dict[tuple[uuid.UUID, str], dict[str, int]] = defaultdict(dict)
    for conversation_id, source, rating, count in rows:
        counts[(conversation_id, source)][rating] = int(count)
    for conversation_id, view in by_id.items():
        user, admin = (
            counts[(conversation_id, feedbacks.USER_SOURCE)],
            counts[(conversation_id, feedbacks.ADMIN_SOURCE)],
        )
        view.user_feedback = FeedbackStats(user.get("like", 0), user.get("dislike", 0))
        view.admin_feedback = FeedbackStats(admin.get("like", 0), admin.get("dislike", 0))


async def _fill_annotations(
    session: AsyncSession,
    app: App,
    ids: list[uuid.UUID],
    by_id: dict[uuid.UUID, ConversationView],
) -> None:
    rows = await session.scalars(
        select(MessageAnnotation)
        .where(MessageAnnotation.conversation_id.in_(ids), MessageAnnotation.app_id == app.id)
        .order_by(MessageAnnotation.created_at)
    )
    for annotation in rows:
        assert annotation.conversation_id is not None  # selected by it
        view = by_id[annotation.conversation_id]
        view.annotated = True
        if view.annotation is None:
            view.annotation = annotation


# --- messages ----------------------------------------------------------------------------


async def list_chat_messages(
    session: AsyncSession,
    app: App,
    conversation_id: uuid.UUID,
    *,
    first_id: uuid.UUID | None,
    limit: int,
) -> tuple[list[MessageView], bool]:
    """A page of a conversation's messages, oldest to newest, that ends just before
    ``first_id`` (or at the newest message); and whether older ones remain."""
    conversation = await _conversation(session, app, conversation_id)
    query = select(Message).where(Message.conversation_id == conversation.id)
    if first_id is not None:
        first = await session.scalar(query.where(Message.id == first_id))
        if first is None:
            raise FirstMessageNotExists()
        query = query.where(older_than(first))
    rows = list(
        await session.scalars(
            query.order_by(Message.created_at.desc(), Message.id.desc()).limit(limit + 1)
        )
    )
    has_more = len(rows) > limit
    page = list(reversed(rows[:limit]))
    return await message_views(session, app, page), has_more


async def get_message(session: AsyncSession, app: App, message_id: uuid.UUID) -> MessageView:
    return (await message_views(session, app, [await _message(session, app, message_id)]))[0]


async def _message(session: AsyncSession, app: App, message_id: uuid.UUID) -> Message:
    row = await session.scalar(
        select(Message).where(
            Message.id == message_id, Message.app_id == app.id, Message.tenant_id == app.tenant_id
        )
    )
    if row is None:
        raise MessageNotExists()
    return row


async def message_views(
    session: AsyncSession, app: App, messages: Sequence[Message]
) -> list[MessageView]:
    """Messages with their feedbacks, annotation and files (three queries in all)."""
    views = [MessageView(message=message) for message in messages]
    if not views:
        return views
    by_id = {view.message.id: view for view in views}
    ids = list(by_id)
    feedbacks = await session.execute(
        select(MessageFeedback, Account)
        .outerjoin(Account, Account.id == MessageFeedback.from_account_id)
        .where(MessageFeedback.message_id.in_(ids))
        .order_by(MessageFeedback.created_at)
    )
    for feedback, account in feedbacks:
        by_id[feedback.message_id].feedbacks.append((feedback, account))
    annotations = await session.execute(
        select(MessageAnnotation, Account)
        .outerjoin(Account, Account.id == MessageAnnotation.account_id)
        .where(MessageAnnotation.message_id.in_(ids), MessageAnnotation.app_id == app.id)
        .order_by(MessageAnnotation.created_at)
    )
    for annotation, account in annotations:
        assert annotation.message_id is not None  # selected by it
        view = by_id[annotation.message_id]
        if view.annotation is None:
            view.annotation = (annotation, account)
    files = await session.execute(
        select(MessageFile, UploadFile)
        .outerjoin(UploadFile, UploadFile.id == MessageFile.upload_file_id)
        .where(MessageFile.message_id.in_(ids))
        .order_by(MessageFile.created_at)
    )
    for message_file, upload in files:
        by_id[message_file.message_id].files.append((message_file, upload))
    return views


# --- admin feedback ----------------------------------------------------------------------


async def set_admin_feedback(
    session: AsyncSession,
    app: App,
    account: Account,
    message_id: uuid.UUID,
    rating: str | None,
    content: str | None,
) -> None:
    """Like, dislike or (``rating`` None) withdraw the workspace's own feedback on a message.

    matches Dify: withdrawing feedback that does not exist is 400 ``invalid_param``.
    """
    message = await _message(session, app, message_id)
    await feedbacks.set_feedback(
        session, message, feedbacks.ADMIN_SOURCE, rating, content, account_id=account.id
    )
