"""``POST /v1/chat-messages`` and ``/v1/completion-messages`` (blocking and streaming), and
their stop routes (spec dify-service-api.md §4–§6).

The app is read in a short unit of its own (``StreamingApp``): a streaming handler holds
no session, the generation's staged units do the writing. Streaming sends each event as
soon as the producer yields it, a ping after ``SSE_PING_INTERVAL`` seconds of silence,
and ends with ``message_end`` once the message is stored, or with ``error``. Blocking mode
folds the same events into one JSON body.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict

from ore.controllers.deps import ContextDep
from ore.controllers.service_api.deps import StreamingApp
from ore.controllers.sse import PING, event_stream, frame
from ore.extensions.context import OreContext
from ore.models import App, AppMode
from ore.services.end_users import user_string
from ore.services.generation import events
from ore.services.generation.files import FileAccess
from ore.services.generation.requests import (
    CHAT_MODES,
    AppUnavailable,
    GenerationArgs,
    NotChatApp,
    chat_args,
    completion_args,
)
from ore.services.generation.run import Engine, Started, start_generation, stop_generation

router = APIRouter(prefix="/v1", tags=["service-api"])


class _Body(BaseModel):
    model_config = ConfigDict(extra="allow")


class ChatMessageBody(_Body):
    query: Any = None
    inputs: Any = None
    user: Any = None
    response_mode: Any = None
    conversation_id: Any = None
    files: Any = None
    auto_generate_name: Any = None


class CompletionMessageBody(_Body):
    query: Any = None
    inputs: Any = None
    user: Any = None
    response_mode: Any = None
    files: Any = None


class StopBody(_Body):
    user: Any = None


def generation_engine(context: OreContext) -> Engine:
    """What a generation gets of this process (the OpenAI-compatible app route uses it too)."""
    return Engine(
        db=context.db,
        kv=context.kv,
        models=context.models,
        secret_key=context.settings.SECRET_KEY,
        default_max_active=context.settings.APP_MAX_ACTIVE_REQUESTS,
        files=FileAccess(storage=context.storage, http=context.http.user),
        user_http=context.http.user,
    )


async def _frames(started: Started, ping_interval: float) -> AsyncIterator[bytes]:
    run, work = started.run, started.work
    envelope = work.envelope
    async for event in run.events_or_idle(ping_interval):
        if event is None:
            yield PING
            continue
        data = events.wire(envelope, event)
        if data is not None:
            yield frame(data)
    await run.wait()
    if run.error is None:
        yield frame(work.message_end())
    else:
        yield frame(events.error_event(envelope, run.error))


async def _blocking(started: Started) -> dict[str, Any]:
    run, work = started.run, started.work
    envelope = work.envelope
    collected = [data async for event in run.events() if (data := events.wire(envelope, event))]
    await run.wait()
    if run.error is not None:
        raise run.error
    collected.append(work.message_end())
    return events.assemble(envelope, collected)


async def _generate(context: OreContext, app: App, args: GenerationArgs) -> Response:
    started = await start_generation(generation_engine(context), app, args)
    if not args.streaming:
        return JSONResponse(await _blocking(started))
    return event_stream(_frames(started, context.settings.SSE_PING_INTERVAL))


@router.post("/chat-messages")
async def create_chat_message(
    context: ContextDep, app: StreamingApp, body: ChatMessageBody
) -> Response:
    return await _generate(context, app, chat_args(app.mode, body.model_dump()))


@router.post("/completion-messages")
async def create_completion_message(
    context: ContextDep, app: StreamingApp, body: CompletionMessageBody
) -> Response:
    return await _generate(context, app, completion_args(app.mode, body.model_dump()))


async def _stop(context: OreContext, app: App, task_id: str, user: str) -> dict[str, str]:
    await stop_generation(context.kv, task_id, app, user)
    return {"result": "success"}


@router.post("/chat-messages/{task_id}/stop")
async def stop_chat_message(
    task_id: str, context: ContextDep, app: StreamingApp, body: StopBody
) -> dict[str, str]:
    user = user_string(body.user, required=True)
    if app.mode not in CHAT_MODES:
        raise NotChatApp()
    return await _stop(context, app, task_id, user)


@router.post("/completion-messages/{task_id}/stop")
async def stop_completion_message(
    task_id: str, context: ContextDep, app: StreamingApp, body: StopBody
) -> dict[str, str]:
    user = user_string(body.user, required=True)
    if app.mode != AppMode.COMPLETION:
        raise AppUnavailable()
    return await _stop(context, app, task_id, user)
