"""Likes and dislikes of end users on messages, and an app's feedback list.

One feedback per message and source (``user`` here; ``admin`` comes from the console).
A null rating removes the user's feedback; removing one that does not exist is a 400, as in
Dify (spec dify-service-api.md section 4).
"""

from __future__ import annotations

import uuid
from typing import Literal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ore.core.errors import InvalidParam
from ore.models import App, EndUser, Message, MessageFeedback

Rating = Literal["like", "dislike"]
USER_SOURCE = "user"
ADMIN_SOURCE = "admin"


class RatingRequired(InvalidParam):
    default_message = "rating cannot be None when feedback not exists"


async def give_feedback(
    session: AsyncSession,
    message: Message,
    end_user: EndUser,
    rating: Rating | None,
    content: str | None,
) -> None:
    """Create, change or (``rating`` None) remove the end user's feedback on ``message``,
    which the caller has already checked belongs to this end user."""
    await set_feedback(session, message, USER_SOURCE, rating, content, end_user_id=end_user.id)


async def set_feedback(
    session: AsyncSession,
    message: Message,
    source: str,
    rating: str | None,
    content: str | None,
    *,
    end_user_id: uuid.UUID | None = None,
    account_id: uuid.UUID | None = None,
) -> None:
    """Create, change or (``rating`` None) remove the ``source`` feedback on ``message``
    (400 when there is none to remove). A change by an account records that account."""
    existing = await session.scalar(
        select(MessageFeedback).where(
            MessageFeedback.message_id == message.id,
            MessageFeedback.from_source == source,
        )
    )
    if rating is None:
        if existing is None:
            raise RatingRequired()
        await session.delete(existing)
    elif existing is not None:
        existing.rating = rating
        existing.content = content
        if account_id is not None:
            existing.from_account_id = account_id
    else:
        session.add(
            MessageFeedback(
                tenant_id=message.tenant_id,
                app_id=message.app_id,
                conversation_id=message.conversation_id,
                message_id=message.id,
                rating=rating,
                content=content,
                from_source=source,
                from_end_user_id=end_user_id,
                from_account_id=account_id,
            )
        )
    await session.flush()


async def app_feedbacks(
    session: AsyncSession, app: App, *, page: int, limit: int
) -> list[MessageFeedback]:
    """One page of every feedback on the app's messages (users' and admins'), newest first."""
    query = (
        select(MessageFeedback)
        .where(MessageFeedback.app_id == app.id, MessageFeedback.tenant_id == app.tenant_id)
        .order_by(MessageFeedback.created_at.desc(), MessageFeedback.id.desc())
        .offset((page - 1) * limit)
        .limit(limit)
    )
    return list((await session.scalars(query)).all())
