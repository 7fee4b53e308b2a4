"""The model gateway: every model a workspace has configured, behind OpenAI's API.

``POST /v1/chat/completions``, ``POST /v1/embeddings`` and ``GET /v1/models``, called with a
workspace gateway key (``Authorization: Bearer gw-…``). ``model`` is the provider id, a
``/``, and the model name (``local/SmolLM2-135M-Instruct``, ``siliconflow/Qwen/Qwen2.5-7B``).
An app key (``app-…``) on the chat and models routes makes that app the model instead
(:mod:`ore.controllers.openai_app`); the key's prefix picks the meaning.

Each call resolves the key and binds the model in one short unit of work, which is closed
before the first upstream byte: a stream holds no database session. Errors use OpenAI's
body (rendered by :mod:`ore.controllers.errors`), so the ``openai`` SDK raises its matching
exception; one that happens after a stream started is its last event, before ``[DONE]``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from ore.controllers import openai_app, openai_wire
from ore.controllers.deps import ContextDep, bearer_token
from ore.controllers.openai_wire import AppChatBody, ChatCompletionBody, EmbeddingsBody
from ore.core.errors import NotFound, Unauthorized
from ore.core.model_runtime import split_model_id
from ore.core.model_runtime.catalogue import ModelType
from ore.core.model_runtime.errors import ModelNotFound
from ore.extensions.context import OreContext
from ore.models import App
from ore.services import app_keys, gateway_keys, model_providers
from ore.services.model_providers import BoundModel

router = APIRouter(prefix="/v1", tags=["gateway"])

# What GET /v1/models lists: the kinds of model these routes can call.
SERVED_TYPES: tuple[ModelType, ...] = ("llm", "text-embedding")


class GatewayKeyInvalid(Unauthorized):
    code = "invalid_api_key"
    default_message = (
        "Invalid gateway key. Send a workspace gateway key as 'Authorization: Bearer gw-…'."
    )


class GatewayModelNotFound(NotFound):
    code = "model_not_found"


def gateway_token(request: Request) -> str:
    """The bearer token, if it looks like a gateway key; checked before the body is read."""
    token = bearer_token(request)
    if token is None or not token.startswith(gateway_keys.TOKEN_PREFIX):
        raise GatewayKeyInvalid()
    return token


@dataclass(frozen=True, slots=True)
class Caller:
    """Who calls the chat and models routes: a gateway key, or the app of an app key."""

    token: str
    app: App | None = None


async def get_caller(request: Request, context: ContextDep) -> Caller:
    """The caller, checked before the body is read; an app key is checked in full here
    (the Service API's checks), a gateway key when its call binds the model."""
    token = bearer_token(request)
    if token is not None and token.startswith(app_keys.TOKEN_PREFIX):
        return Caller(token, await openai_app.authenticate(request, context))
    return Caller(gateway_token(request))


TokenDep = Annotated[str, Depends(gateway_token)]
CallerDep = Annotated[Caller, Depends(get_caller)]


async def tenant_of(session: AsyncSession, token: str) -> uuid.UUID:
    tenant_id = await gateway_keys.authenticate_gateway_key(session, token)
    if tenant_id is None:
        raise GatewayKeyInvalid()
    return tenant_id


async def bind(context: OreContext, token: str, model_id: str, model_type: ModelType) -> BoundModel:
    """The workspace's model ``model_id``, ready to call after the unit of work has closed
    (a binding of the last second is reused: :func:`~ore.services.model_providers.bind_recent`).

    An unknown provider or model is 404 naming it, whichever workspace asks; a key that
    is unknown, revoked or of an archived workspace is 401.
    """
    async with context.db.unit_of_work() as session:
        tenant_id = await tenant_of(session, token)
        try:
            provider, name = split_model_id(model_id)
            return await model_providers.bind_recent(
                session,
                context.models,
                context.settings.SECRET_KEY,
                tenant_id,
                provider,
                name,
                model_type,
            )
        except ModelNotFound as error:
            message = f"The model {model_id!r} does not exist: {error.message}"
            raise GatewayModelNotFound(message) from error


@router.post("/chat/completions")
async def create_chat_completion(
    context: ContextDep, caller: CallerDep, payload: Annotated[dict[str, Any], Body()]
) -> Response:
    if caller.app is not None:
        app_body = openai_wire.parse(AppChatBody, payload)
        return await openai_app.chat_completion(context, caller.app, app_body)
    body = openai_wire.parse(ChatCompletionBody, payload)
    model = await bind(context, caller.token, body.model, "llm")
    request = body.to_runtime(model.model)
    if not body.stream:
        return JSONResponse(openai_wire.completion_json(await model.chat(request), body.model))
    chunks = await openai_wire.started(model.stream_chat(request))
    frames = openai_wire.chat_events(chunks, body.model, include_usage=body.include_usage)
    return openai_wire.event_stream(frames)


@router.post("/embeddings")
async def create_embeddings(context: ContextDep, token: TokenDep, body: EmbeddingsBody) -> Response:
    model = await bind(context, token, body.model, "text-embedding")
    result = await model.embed(body.texts, body.dimensions)
    payload = openai_wire.embeddings_json(
        result.embeddings, body.model, result.usage.prompt_tokens, body.encoding_format
    )
    return JSONResponse(payload)


@router.get("/models")
async def list_models(context: ContextDep, caller: CallerDep) -> Response:
    if caller.app is not None:
        return JSONResponse(openai_app.models(caller.app))
    async with context.db.unit_of_work() as session:
        tenant_id = await tenant_of(session, caller.token)
        found = await model_providers.available_models(session, context.models, tenant_id)
    # A name served as chat and as embeddings is listed once: its id is the same.
    served = {f"{m.provider}/{m.model}": m.provider for m in found if m.model_type in SERVED_TYPES}
    return JSONResponse(openai_wire.models_json(served.items()))
