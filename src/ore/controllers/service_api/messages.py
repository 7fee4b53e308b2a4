"""``/v1/messages`` (history), feedback, the app's feedback list and suggested questions.

History and suggestions are for chat-family apps (400 ``not_chat_app``); feedback works
on any app's messages, as in Dify. Suggestions call the app's model between two units of
work: nothing holds a transaction while the model answers.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel

from ore.config import Settings
from ore.controllers.console.fields import timestamp
from ore.controllers.deps import ContextDep, SessionDep, SettingsDep
from ore.controllers.service_api.deps import ServiceApp, StreamingApp
from ore.controllers.service_api.files import preview_url
from ore.models import MessageFeedback, MessageStatus
from ore.services import conversations, feedbacks, messages
from ore.services.end_users import find_end_user, user_string
from ore.services.feedbacks import Rating
from ore.services.messages import AttachedFile, MessageView

router = APIRouter(tags=["service-api"])

MESSAGE = "/v1/messages/{message_id}"
Limit = Annotated[int, Query(ge=1, le=100)]


class FeedbackBody(BaseModel):
    rating: Rating | None = None
    user: Any = None
    content: str | None = None


def file_item(request: Request, settings: Settings, attached: AttachedFile) -> dict[str, Any]:
    message_file, upload = attached.file, attached.upload
    url = message_file.url
    if message_file.upload_file_id is not None:
        url = preview_url(request, settings, message_file.upload_file_id)
    return {
        "id": str(message_file.id),
        "filename": upload.name if upload is not None else None,
        "type": message_file.type,
        "url": url,
        "mime_type": upload.mime_type if upload is not None else None,
        "size": upload.size if upload is not None else None,
        "transfer_method": message_file.transfer_method,
        "belongs_to": message_file.belongs_to or "user",
        "upload_file_id": str(message_file.upload_file_id) if message_file.upload_file_id else None,
    }


def message_body(request: Request, settings: Settings, view: MessageView) -> dict[str, Any]:
    message = view.message
    return {
        "id": str(message.id),
        "conversation_id": str(message.conversation_id),
        "parent_message_id": str(message.parent_message_id) if message.parent_message_id else None,
        "inputs": message.inputs or {},
        "query": message.query,
        "answer": message.answer,
        "message_files": [file_item(request, settings, f) for f in view.files],
        "feedback": {"rating": view.feedback.rating} if view.feedback is not None else None,
        "retriever_resources": messages.retriever_resources(message),
        "agent_thoughts": messages.agent_thoughts(message),
        # The spec knows "normal" and "error"; a stopped answer is a normal, shorter one.
        "status": MessageStatus.ERROR
        if message.status == MessageStatus.ERROR
        else MessageStatus.NORMAL,
        "error": message.error,
        "created_at": timestamp(message.created_at),
        "message_tokens": message.message_tokens,
        "answer_tokens": message.answer_tokens,
        "total_tokens": message.message_tokens + message.answer_tokens,
        "provider_response_latency": message.provider_response_latency,
    }


@router.get("/v1/messages", summary="A page of a conversation's messages, oldest first")
async def list_messages(
    request: Request,
    app: ServiceApp,
    session: SessionDep,
    settings: SettingsDep,
    conversation_id: str,
    user: str | None = None,
    first_id: str | None = None,
    limit: Limit = 20,
) -> dict[str, Any]:
    conversations.require_chat_app(app)
    end_user = await find_end_user(session, app, user_string(user, required=False))
    conversation = await conversations.owned_conversation(session, app, end_user, conversation_id)
    rows, has_more = await messages.history_page(
        session, conversation, first_id=first_id, limit=limit
    )
    views = await messages.views(session, rows)
    return {
        "limit": limit,
        "has_more": has_more,
        "data": [message_body(request, settings, view) for view in views],
    }


@router.post(f"{MESSAGE}/feedbacks", summary="Like, dislike or clear feedback on a message")
async def message_feedback(
    message_id: str, body: FeedbackBody, app: ServiceApp, session: SessionDep
) -> dict[str, str]:
    user = user_string(body.user, required=True)
    end_user = await find_end_user(session, app, user)
    message = await messages.owned_message(session, app, end_user, message_id)
    assert end_user is not None  # owned_message found the end user's message
    await feedbacks.give_feedback(session, message, end_user, body.rating, body.content)
    return {"result": "success"}


def _iso(value: datetime) -> str:
    return value.isoformat()


def feedback_item(row: MessageFeedback) -> dict[str, Any]:
    return {
        "id": str(row.id),
        "app_id": str(row.app_id),
        "conversation_id": str(row.conversation_id),
        "message_id": str(row.message_id),
        "rating": row.rating,
        "content": row.content,
        "from_source": row.from_source,
        "from_end_user_id": str(row.from_end_user_id) if row.from_end_user_id else None,
        "from_account_id": str(row.from_account_id) if row.from_account_id else None,
        "created_at": _iso(row.created_at),
        "updated_at": _iso(row.updated_at),
    }


@router.get("/v1/app/feedbacks", summary="Feedback on the app's messages, newest first")
async def app_feedbacks(
    app: ServiceApp,
    session: SessionDep,
    page: Annotated[int, Query(ge=1, le=99999)] = 1,
    limit: Annotated[int, Query(ge=1, le=101)] = 20,
) -> dict[str, Any]:
    rows = await feedbacks.app_feedbacks(session, app, page=page, limit=limit)
    return {"data": [feedback_item(row) for row in rows]}


@router.get(f"{MESSAGE}/suggested", summary="Questions the end user may ask next")
async def suggested_questions(
    message_id: str, app: StreamingApp, context: ContextDep, user: str | None = None
) -> dict[str, Any]:
    end_user_name = user_string(user, required=True)
    conversations.require_chat_app(app)
    async with context.db.unit_of_work() as session:
        end_user = await find_end_user(session, app, end_user_name)
        message = await messages.owned_message(session, app, end_user, message_id)
        job = await messages.suggestion_job(
            session, context.models, context.settings.SECRET_KEY, app, message
        )
    return {"result": "success", "data": await messages.suggest_questions(job)}
