"""An app's logs: conversations, messages, admin feedback (console spec §11).

Conversation lists and details need an editor (matches Dify); messages, feedback and the
annotation count need a member of the workspace. ``start``/``end`` are
``YYYY-MM-DD HH:MM`` in the caller's timezone.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field

from ore.controllers.console.fields import optional_id, timestamp
from ore.controllers.deps import CurrentWorkspace, EditorWorkspace, SessionDep, WorkspaceScope
from ore.models import Account, App, AppMode, AppModelConfig
from ore.services import annotations as annotation_service
from ore.services import app_logs, apps, messages, statistics
from ore.services.app_logs import ConversationView, FeedbackStats, MessageView

router = APIRouter(tags=["app logs"])

APP_PATH = "/apps/{app_id:uuid}"
CHAT_MODES = frozenset({AppMode.CHAT, AppMode.AGENT_CHAT, AppMode.ADVANCED_CHAT})
COMPLETION_MODES = frozenset({AppMode.COMPLETION})
Page = Annotated[int, Query(ge=1, le=99999)]
Limit = Annotated[int, Query(ge=1, le=100)]
RangeBound = Annotated[str | None, Query(max_length=32)]
Keyword = Annotated[str | None, Query(max_length=255)]


class FeedbackBody(BaseModel):
    message_id: uuid.UUID
    rating: Literal["like", "dislike"] | None = None
    content: Annotated[str, Field(max_length=10000)] | None = None


def _stats(stats: FeedbackStats) -> dict[str, int]:
    return {"like": stats.like, "dislike": stats.dislike}


def _account(account: Account | None) -> dict[str, Any] | None:
    if account is None:
        return None
    return {"id": str(account.id), "name": account.name, "email": account.email}


def _short_config(config: AppModelConfig | None) -> dict[str, Any] | None:
    if config is None:
        return None
    return {"model": config.model, "pre_prompt": config.pre_prompt}


def _detail_config(config: AppModelConfig | None) -> dict[str, Any] | None:
    if config is None:
        return None
    return {
        "opening_statement": config.opening_statement,
        "suggested_questions": config.suggested_questions or [],
        "model": config.model,
        "user_input_form": config.user_input_form or [],
        "pre_prompt": config.pre_prompt,
        "agent_mode": config.agent_mode,
    }


def _conversation_base(view: ConversationView) -> dict[str, Any]:
    row = view.conversation
    return {
        "id": str(row.id),
        "status": row.status,
        "from_source": row.from_source,
        "from_end_user_id": optional_id(row.from_end_user_id),
        "from_end_user_session_id": view.end_user_session_id,
        "from_account_id": optional_id(row.from_account_id),
        "from_account_name": view.account_name,
        "read_at": timestamp(row.read_at),
        "created_at": timestamp(row.created_at),
        "updated_at": timestamp(row.updated_at),
        "model_config": _short_config(view.config),
        "user_feedback_stats": _stats(view.user_feedback),
        "admin_feedback_stats": _stats(view.admin_feedback),
    }


def chat_conversation_item(view: ConversationView) -> dict[str, Any]:
    """matches Dify: conversation_with_summary_fields. ``status_count`` counts workflow
    runs, which only graph apps have: null here, as Dify answers for basic apps."""
    row, first = view.conversation, view.first_message
    return {
        **_conversation_base(view),
        "name": row.name,
        "summary": row.summary or (first.query if first is not None else ""),
        "annotated": view.annotated,
        "message_count": view.message_count,
        "status_count": None,
    }


def _annotation(view: ConversationView) -> dict[str, Any] | None:
    row = view.annotation
    if row is None:
        return None
    return {
        "id": str(row.id),
        "question": row.question,
        "content": row.content,
        "account": None,
        "created_at": timestamp(row.created_at),
    }


def completion_conversation_item(view: ConversationView) -> dict[str, Any]:
    """matches Dify: conversation_fields (the completion log list)."""
    first = view.first_message
    message = None
    if first is not None:
        message = {
            "inputs": first.inputs,
            "query": first.query,
            "message": None,
            "answer": first.answer,
        }
    return {**_conversation_base(view), "annotation": _annotation(view), "message": message}


def message_out(view: MessageView) -> dict[str, Any]:
    """matches Dify: message_detail_fields."""
    row = view.message
    return {
        "id": str(row.id),
        "conversation_id": str(row.conversation_id),
        "parent_message_id": optional_id(row.parent_message_id),
        "inputs": row.inputs,
        "query": row.query,
        "message": None,  # the prompt sent is not stored yet
        "message_tokens": row.message_tokens,
        "answer": row.answer,
        "answer_tokens": row.answer_tokens,
        "provider_response_latency": row.provider_response_latency,
        "from_source": row.from_source,
        "from_end_user_id": optional_id(row.from_end_user_id),
        "from_account_id": optional_id(row.from_account_id),
        "feedbacks": [
            {
                "rating": feedback.rating,
                "content": feedback.content,
                "from_source": feedback.from_source,
                "from_end_user_id": optional_id(feedback.from_end_user_id),
                "from_account": _account(account),
            }
            for feedback, account in view.feedbacks
        ],
        "workflow_run_id": optional_id(row.workflow_run_id),
        "annotation": _message_annotation(view),
        "annotation_hit_history": _hit_history(view),
        "created_at": timestamp(row.created_at),
        "agent_thoughts": messages.agent_thoughts(row),
        "message_files": [_file(message_file, upload) for message_file, upload in view.files],
        "extra_contents": [],
        "metadata": row.message_metadata,
        "status": row.status,
        "error": row.error,
    }


def _message_annotation(view: MessageView) -> dict[str, Any] | None:
    if view.annotation is None:
        return None
    row, account = view.annotation
    return {
        "id": str(row.id),
        "question": row.question,
        "content": row.content,
        "account": _account(account),
        "created_at": timestamp(row.created_at),
    }


def _hit_history(view: MessageView) -> dict[str, Any] | None:
    """The annotation that answered this message, as the generation recorded it in the
    message's ``metadata.annotation_reply``."""
    reply = view.message.message_metadata.get("annotation_reply")
    if not isinstance(reply, dict) or not reply.get("id"):
        return None
    return {
        "annotation_id": reply["id"],
        "annotation_create_account": reply.get("account"),
        "created_at": timestamp(view.message.created_at),
    }


def _file(message_file: Any, upload: Any) -> dict[str, Any]:
    return {
        "id": str(message_file.id),
        "filename": upload.name if upload is not None else None,
        "type": message_file.type,
        "url": message_file.url,
        "mime_type": upload.mime_type if upload is not None else None,
        "size": upload.size if upload is not None else None,
        "transfer_method": message_file.transfer_method,
        "belongs_to": message_file.belongs_to or "user",
        "upload_file_id": optional_id(message_file.upload_file_id),
    }


def _filters(
    scope: WorkspaceScope,
    *,
    keyword: str | None,
    start: str | None,
    end: str | None,
    annotation_status: app_logs.AnnotationStatus,
    sort_by: app_logs.SortBy = "-updated_at",
) -> app_logs.ConversationFilter:
    bounds = statistics.time_range(start, end, scope.account.timezone)
    return app_logs.ConversationFilter(
        keyword=keyword or None,
        bounds=bounds if bounds.start or bounds.end else None,
        annotation_status=annotation_status,
        sort_by=sort_by,
    )


def _page(total: int, page: int, limit: int) -> dict[str, Any]:
    return {"page": page, "limit": limit, "total": total, "has_more": page * limit < total}


async def _app(
    session: SessionDep, scope: WorkspaceScope, app_id: uuid.UUID, modes: frozenset[AppMode]
) -> App:
    return await apps.get_app(session, scope.tenant.id, app_id, modes)


@router.get(APP_PATH + "/chat-conversations")
async def list_chat_conversations(
    app_id: uuid.UUID,
    session: SessionDep,
    scope: EditorWorkspace,
    keyword: Keyword = None,
    start: RangeBound = None,
    end: RangeBound = None,
    annotation_status: app_logs.AnnotationStatus = "all",
    sort_by: app_logs.SortBy = "-updated_at",
    page: Page = 1,
    limit: Limit = 20,
) -> dict[str, Any]:
    app = await _app(session, scope, app_id, CHAT_MODES)
    filters = _filters(
        scope,
        keyword=keyword,
        start=start,
        end=end,
        annotation_status=annotation_status,
        sort_by=sort_by,
    )
    views, total = await app_logs.list_conversations(session, app, filters, page=page, limit=limit)
    return {
        **_page(total, page, limit),
        "data": [chat_conversation_item(view) for view in views],
    }


@router.get(APP_PATH + "/completion-conversations")
async def list_completion_conversations(
    app_id: uuid.UUID,
    session: SessionDep,
    scope: EditorWorkspace,
    keyword: Keyword = None,
    start: RangeBound = None,
    end: RangeBound = None,
    annotation_status: app_logs.AnnotationStatus = "all",
    page: Page = 1,
    limit: Limit = 20,
) -> dict[str, Any]:
    app = await _app(session, scope, app_id, COMPLETION_MODES)
    filters = _filters(
        scope,
        keyword=keyword,
        start=start,
        end=end,
        annotation_status=annotation_status,
        sort_by="-created_at",
    )
    views, total = await app_logs.list_conversations(session, app, filters, page=page, limit=limit)
    return {
        **_page(total, page, limit),
        "data": [completion_conversation_item(view) for view in views],
    }


@router.get(APP_PATH + "/chat-conversations/{conversation_id:uuid}")
async def get_chat_conversation(
    app_id: uuid.UUID, conversation_id: uuid.UUID, session: SessionDep, scope: EditorWorkspace
) -> dict[str, Any]:
    """matches Dify: conversation_message_detail_fields; opening it marks it read."""
    app = await _app(session, scope, app_id, CHAT_MODES)
    view = await app_logs.get_conversation(session, app, conversation_id, mark_read=True)
    row = view.conversation
    return {
        "id": str(row.id),
        "status": row.status,
        "from_source": row.from_source,
        "from_end_user_id": optional_id(row.from_end_user_id),
        "from_account_id": optional_id(row.from_account_id),
        "created_at": timestamp(row.created_at),
        "updated_at": timestamp(row.updated_at),
        "annotated": view.annotated,
        "introduction": row.introduction,
        "model_config": _detail_config(view.config),
        "message_count": view.message_count,
        "user_feedback_stats": _stats(view.user_feedback),
        "admin_feedback_stats": _stats(view.admin_feedback),
    }


@router.get(APP_PATH + "/completion-conversations/{conversation_id:uuid}")
async def get_completion_conversation(
    app_id: uuid.UUID, conversation_id: uuid.UUID, session: SessionDep, scope: EditorWorkspace
) -> dict[str, Any]:
    app = await _app(session, scope, app_id, COMPLETION_MODES)
    view = await app_logs.get_conversation(session, app, conversation_id, mark_read=True)
    row, first = view.conversation, view.first_message
    message = None
    if first is not None:
        message = message_out((await app_logs.message_views(session, app, [first]))[0])
    return {
        "id": str(row.id),
        "status": row.status,
        "from_source": row.from_source,
        "from_end_user_id": optional_id(row.from_end_user_id),
        "from_account_id": optional_id(row.from_account_id),
        "created_at": timestamp(row.created_at),
        "model_config": _detail_config(view.config),
        "message": message,
    }


@router.delete(APP_PATH + "/chat-conversations/{conversation_id:uuid}", status_code=204)
async def delete_chat_conversation(
    app_id: uuid.UUID, conversation_id: uuid.UUID, session: SessionDep, scope: EditorWorkspace
) -> Response:
    app = await _app(session, scope, app_id, CHAT_MODES)
    await app_logs.delete_conversation(session, app, conversation_id)
    return Response(status_code=204)


@router.delete(APP_PATH + "/completion-conversations/{conversation_id:uuid}", status_code=204)
async def delete_completion_conversation(
    app_id: uuid.UUID, conversation_id: uuid.UUID, session: SessionDep, scope: EditorWorkspace
) -> Response:
    app = await _app(session, scope, app_id, COMPLETION_MODES)
    await app_logs.delete_conversation(session, app, conversation_id)
    return Response(status_code=204)


@router.get(APP_PATH + "/chat-messages")
async def list_chat_messages(
    app_id: uuid.UUID,
    conversation_id: uuid.UUID,
    session: SessionDep,
    scope: CurrentWorkspace,
    first_id: uuid.UUID | None = None,
    limit: Limit = 20,
) -> dict[str, Any]:
    app = await _app(session, scope, app_id, CHAT_MODES)
    views, has_more = await app_logs.list_chat_messages(
        session, app, conversation_id, first_id=first_id, limit=limit
    )
    return {"limit": limit, "has_more": has_more, "data": [message_out(view) for view in views]}


@router.get(APP_PATH + "/messages/{message_id:uuid}")
async def get_message(
    app_id: uuid.UUID, message_id: uuid.UUID, session: SessionDep, scope: CurrentWorkspace
) -> dict[str, Any]:
    app = await apps.get_app(session, scope.tenant.id, app_id)
    return message_out(await app_logs.get_message(session, app, message_id))


@router.post(APP_PATH + "/feedbacks")
async def create_admin_feedback(
    app_id: uuid.UUID, body: FeedbackBody, session: SessionDep, scope: CurrentWorkspace
) -> dict[str, str]:
    app = await apps.get_app(session, scope.tenant.id, app_id)
    await app_logs.set_admin_feedback(
        session, app, scope.account, body.message_id, body.rating, body.content
    )
    return {"result": "success"}


@router.get(APP_PATH + "/annotations/count")
async def count_annotations(
    app_id: uuid.UUID, session: SessionDep, scope: CurrentWorkspace
) -> dict[str, int]:
    app = await apps.get_app(session, scope.tenant.id, app_id)
    return {"count": await annotation_service.count_annotations(session, app)}
