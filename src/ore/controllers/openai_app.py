"""An app behind OpenAI's chat API: with an app key (``Authorization: Bearer app-…``) the
app is the model.

OpenAI's API is stateless; a Dify app has conversations. ore keeps the app's side: each
call is one generation of the app, exactly as ``POST /v1/chat-messages`` runs it (the app's
prompt, variables, memory, annotation reply, concurrency limit, and the message stored
with ``from_source`` ``api``). The last message of the request is the query; the app's
``pre_prompt`` is the system prompt (the request's system messages are left out). Memory:
a chat app continues a stored conversation when the request names it (``conversation_id``,
with the same ``user``); otherwise the request's earlier user/assistant messages are the
history, as OpenAI clients expect, within the app's token budget. Every answer carries its
``conversation_id``. ``model`` and the sampling fields are ignored: the app decides.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncGenerator
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse, Response

from ore.controllers import openai_wire
from ore.controllers.openai_wire import AppChatBody, ImageContent, Message
from ore.controllers.service_api.deps import streaming_app
from ore.controllers.service_api.generation import generation_engine
from ore.core.errors import BadRequest, InvalidParam, Unauthorized
from ore.core.model_runtime.entities import ChatChunk, Usage, assemble
from ore.extensions.context import OreContext
from ore.models import App, AppMode
from ore.services.end_users import DEFAULT_USER
from ore.services.generation.events import AnswerDelta
from ore.services.generation.prompt import Turn
from ore.services.generation.requests import GenerationArgs
from ore.services.generation.run import Started, start_generation

# The modes whose generation answers a query; workflows need their own mapping.
SERVED_MODES = frozenset({AppMode.CHAT, AppMode.AGENT_CHAT, AppMode.COMPLETION})
OWNER = "ore"


class AppKeyInvalid(Unauthorized):
    code = "invalid_api_key"


class AppModeUnsupported(BadRequest):
    code = "app_unavailable"


class AppParamInvalid(InvalidParam):
    """400 ``invalid_param`` naming the offending field in OpenAI's ``param``."""

    def __init__(self, message: str, parameter: str) -> None:
        super().__init__(message)
        self.parameter = parameter


async def authenticate(request: Request, context: OreContext) -> App:
    """The app of the request's key, with the Service API's checks (403 for an app that is
    disabled or abnormal, 429 over its rate limit); a bad key is OpenAI's 401 code."""
    try:
        return await streaming_app(request, context)
    except Unauthorized as error:
        raise AppKeyInvalid(error.message, headers=error.headers) from None


def _text(message: Message) -> str:
    """The text of the query message; images have no place in an app's query yet."""
    content = message.content
    if not isinstance(content, list):
        return content or ""
    if any(isinstance(part, ImageContent) for part in content):
        raise AppParamInvalid("Image content is not supported by apps yet.", "messages")
    return "\n".join(part.text for part in content if not isinstance(part, ImageContent))


def _conversation_id(value: str | None) -> uuid.UUID | None:
    if value is None or not value.strip():
        return None
    try:
        return uuid.UUID(value.strip())
    except ValueError:
        raise AppParamInvalid("conversation_id must be a valid UUID", "conversation_id") from None


def _history(messages: list[Message]) -> tuple[Turn, ...]:
    """Earlier user/assistant exchanges of a stateless request, oldest first; system
    messages are left out (the app's ``pre_prompt`` is its system prompt)."""
    turns: list[Turn] = []
    pending: str | None = None
    for message in messages:
        if message.role == "user":
            pending = _text(message)
        elif message.role == "assistant" and pending is not None:
            answer = message.content if isinstance(message.content, str) else _text(message)
            turns.append(Turn(query=pending, answer=answer or ""))
            pending = None
    return tuple(turns)


def generation_args(app: App, body: AppChatBody) -> GenerationArgs:
    """The generation one request asks for: the last message, from the user, is the query."""
    if app.mode not in SERVED_MODES:
        raise AppModeUnsupported(
            f"A {app.mode} app cannot be called through /v1/chat/completions yet; "
            "use the Service API's routes for it."
        )
    last = body.messages[-1]
    if last.role != "user":
        raise AppParamInvalid("The last message must be the user's query.", "messages")
    query = _text(last).replace("\x00", "")
    chat = app.mode != AppMode.COMPLETION
    if chat and not query.strip():
        raise AppParamInvalid("The last message must have text content.", "messages")
    return GenerationArgs(
        user=body.user or DEFAULT_USER,
        query=query,
        inputs=body.inputs or {},
        conversation_id=_conversation_id(body.conversation_id) if chat else None,
        streaming=body.stream,
        auto_generate_name=False,
        history=_history(body.messages[:-1]) if chat else (),
    )


def _usage(metadata: dict[str, Any]) -> Usage:
    """The usage the finish unit stored (the model's, or estimated when it sent none)."""
    stored = metadata.get("usage") or {}
    return Usage(
        prompt_tokens=stored.get("prompt_tokens", 0),
        completion_tokens=stored.get("completion_tokens", 0),
        total_tokens=stored.get("total_tokens", 0),
    )


async def answer_chunks(started: Started) -> AsyncGenerator[ChatChunk, None]:
    """The generation's answer as chat chunks; the closing chunk (``stop`` and usage)
    comes once the message is stored, so a client that reads the logs next finds it."""
    run, work = started.run, started.work
    async for event in run.events():
        if isinstance(event, AnswerDelta) and event.text:
            yield ChatChunk(content=event.text)
    await run.wait()
    if run.error is not None:
        raise run.error
    yield ChatChunk(finish_reason="stop", usage=_usage(work.metadata))


def _answer_fields(started: Started) -> tuple[str, dict[str, Any]]:
    """The completion id (the stored message's) and the fields ore adds to each answer."""
    envelope = started.work.envelope
    extra: dict[str, Any] = {}
    if envelope.conversation_id is not None:
        extra["conversation_id"] = envelope.conversation_id
    return f"chatcmpl-{envelope.message_id}", extra


async def chat_completion(context: OreContext, app: App, body: AppChatBody) -> Response:
    """One generation of ``app`` as ``chat.completion`` (or its chunks); ``model`` is the
    app id. Errors before the first token have an HTTP status, later ones are in-band."""
    started = await start_generation(generation_engine(context), app, generation_args(app, body))
    model = str(app.id)
    chunk_id, extra = _answer_fields(started)
    chunks = await openai_wire.started(answer_chunks(started))
    if not body.stream:
        result = assemble(model, [chunk async for chunk in chunks])
        payload = openai_wire.completion_json(result, model)
        return JSONResponse({**payload, "id": chunk_id, **extra})
    frames = openai_wire.chat_events(
        chunks, model, include_usage=body.include_usage, chunk_id=chunk_id, extra=extra
    )
    return openai_wire.event_stream(frames)


def models(app: App) -> dict[str, Any]:
    """The model list an app key sees: that one app."""
    return openai_wire.models_json([(str(app.id), OWNER)])
