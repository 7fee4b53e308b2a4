"""``/v1/conversations``: list, delete, rename (or name by the app's model) and variables.

Chat-family apps only (400 ``not_chat_app``). ``user`` is optional everywhere here, read
from the query (GET) or the JSON body (DELETE, POST, PUT); a missing one is the shared
``DEFAULT-USER``. Naming by the model runs between two short units of work, so no
transaction is open while the model answers.
"""

from __future__ import annotations

import json
import re
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel

from ore.controllers.console.fields import timestamp
from ore.controllers.deps import ContextDep, SessionDep
from ore.controllers.errors import INVALID_JSON_MESSAGE
from ore.controllers.service_api.deps import ServiceApp, StreamingApp
from ore.core.errors import BadRequest, InvalidParam, NotFound
from ore.models import Conversation
from ore.services import conversations
from ore.services.conversations import SortBy
from ore.services.end_users import find_end_user, user_string

router = APIRouter(tags=["service-api"])

CONVERSATION = "/v1/conversations/{conversation_id}"
Limit = Annotated[int, Query(ge=1, le=100)]
_VARIABLE_NAME = re.compile(r"^[A-Za-z0-9_.\-]{1,255}$")


class ConversationVariableNotExists(NotFound):
    default_message = "Conversation Variable Not Exists."


class RenameBody(BaseModel):
    name: str | None = None
    auto_generate: bool = False
    user: Any = None


class VariableUpdate(BaseModel):
    value: Any
    user: Any = None


def conversation_body(conversation: Conversation) -> dict[str, Any]:
    return {
        "id": str(conversation.id),
        "name": conversation.name,
        "inputs": conversation.inputs or {},
        "status": conversation.status,
        "introduction": conversation.introduction,
        "created_at": timestamp(conversation.created_at),
        "updated_at": timestamp(conversation.updated_at),
    }


@router.get("/v1/conversations", summary="The end user's conversations, newest first")
async def list_conversations(
    app: ServiceApp,
    session: SessionDep,
    user: str | None = None,
    last_id: str | None = None,
    limit: Limit = 20,
    sort_by: SortBy = "-updated_at",
) -> dict[str, Any]:
    conversations.require_chat_app(app)
    end_user = await find_end_user(session, app, user_string(user, required=False))
    rows, has_more = await conversations.list_conversations(
        session, app, end_user, last_id=last_id, limit=limit, sort_by=sort_by
    )
    return {"limit": limit, "has_more": has_more, "data": [conversation_body(c) for c in rows]}


async def optional_json(request: Request) -> dict[str, Any]:
    """A JSON object body, or ``{}`` for none: DELETE works with and without a body."""
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except ValueError:
        raise BadRequest(INVALID_JSON_MESSAGE) from None
    if not isinstance(body, dict):
        raise BadRequest(INVALID_JSON_MESSAGE)
    return body


@router.delete(CONVERSATION, status_code=204, summary="Delete a conversation")
async def delete_conversation(
    conversation_id: str, request: Request, app: ServiceApp, session: SessionDep
) -> Response:
    conversations.require_chat_app(app)
    body = await optional_json(request)
    end_user = await find_end_user(session, app, user_string(body.get("user"), required=False))
    conversation = await conversations.owned_conversation(session, app, end_user, conversation_id)
    await conversations.delete_conversation(session, conversation)
    return Response(status_code=204)


@router.post(f"{CONVERSATION}/name", summary="Rename a conversation, or name it by the model")
async def rename_conversation(
    conversation_id: str, body: RenameBody, app: StreamingApp, context: ContextDep
) -> dict[str, Any]:
    conversations.require_chat_app(app)
    user = user_string(body.user, required=False)
    async with context.db.unit_of_work() as session:
        end_user = await find_end_user(session, app, user)
        conversation = await conversations.owned_conversation(
            session, app, end_user, conversation_id
        )
        if not body.auto_generate:
            await conversations.rename(session, conversation, body.name)
            job = None
        else:
            job = await conversations.naming_job(
                session, context.models, context.settings.SECRET_KEY, conversation
            )
            if job is None:
                raise conversations.NoMessageToName()
    if job is None:
        return conversation_body(conversation)
    name = await conversations.suggest_name(job)
    async with context.db.unit_of_work() as session:
        saved = await conversations.save_generated_name(session, conversation.id, name)
    if saved is None:  # deleted while the model was answering
        raise conversations.ConversationNotExists()
    return conversation_body(saved)


@router.get(f"{CONVERSATION}/variables", summary="The conversation's variables")
async def list_variables(
    conversation_id: str,
    app: ServiceApp,
    session: SessionDep,
    user: str | None = None,
    last_id: str | None = None,
    limit: Limit = 20,
    variable_name: str | None = None,
) -> dict[str, Any]:
    """Basic apps (chat, agent-chat) keep no conversation variables: once the conversation
    is checked, the list is empty and so no ``last_id`` can name one of its items."""
    conversations.require_chat_app(app)
    if variable_name is not None and not _VARIABLE_NAME.match(variable_name):
        raise InvalidParam("variable_name may hold only letters, digits, '-', '_' and '.'")
    end_user = await find_end_user(session, app, user_string(user, required=False))
    await conversations.owned_conversation(session, app, end_user, conversation_id)
    if last_id:
        raise InvalidParam("last_id is not a variable of this conversation.")
    return {"limit": limit, "has_more": False, "data": []}


@router.put(f"{CONVERSATION}/variables/{{variable_id}}", summary="Change a conversation variable")
async def update_variable(
    conversation_id: str,
    variable_id: str,
    body: VariableUpdate,
    app: ServiceApp,
    session: SessionDep,
) -> dict[str, Any]:
    conversations.require_chat_app(app)
    end_user = await find_end_user(session, app, user_string(body.user, required=False))
    await conversations.owned_conversation(session, app, end_user, conversation_id)
    # Basic apps have no conversation variables (see list_variables).
    raise ConversationVariableNotExists()
