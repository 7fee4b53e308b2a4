"""`ore models serve-local`: the local models as an OpenAI-compatible server on loopback.

A small standalone FastAPI app (no database, no auth: it binds to loopback) over the engines
of :mod:`ore.core.local_models`: ``POST /v1/chat/completions`` (blocking, or SSE chunks in
OpenAI's format), ``POST /v1/embeddings`` (float or base64), ``POST /v1/rerank`` and
``GET /v1/models``. Chat requests queue in front of the one model. Requests and answers go
through :mod:`ore.controllers.openai_wire`, the same code as the model gateway's.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any, cast, get_args

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from ore.controllers import openai_wire
from ore.controllers.openai_wire import ChatCompletionBody, EmbeddingsBody
from ore.core.errors import InvalidParam, OreError
from ore.core.local_models import (
    CHAT_MODEL_NAME,
    EMBEDDING_MODEL_NAME,
    RERANK_MODEL_NAME,
    ChatDelta,
    ChatFinish,
    ChatRequest,
    LocalChatEngine,
    LocalChatError,
    LocalEmbedder,
    LocalReranker,
)
from ore.core.model_runtime.entities import (
    ChatChunk,
    ChatMessage,
    ChatResult,
    FinishReason,
    ToolCall,
    ToolCallDelta,
    Usage,
)
from ore.core.model_runtime.openai_messages import request_body

_FINISH: frozenset[str] = frozenset(get_args(FinishReason))


class ChatBody(ChatCompletionBody):
    model: str = CHAT_MODEL_NAME


class LocalEmbeddingsBody(EmbeddingsBody):
    model: str = EMBEDDING_MODEL_NAME


class RerankBody(BaseModel):
    model_config = ConfigDict(extra="ignore")

    model: str = RERANK_MODEL_NAME
    query: str
    documents: list[str]
    top_n: int | None = Field(default=None, ge=1)


def _engine_request(body: ChatBody) -> ChatRequest:
    """The engine's OpenAI-style request, from the wire body parsed as the gateway does."""
    request = body.to_runtime()
    wire = request_body(request, {})
    parameters = request.parameters
    out = ChatRequest(
        messages=wire["messages"],
        max_tokens=parameters.get("max_tokens"),
        stop=parameters.get("stop", []),
        seed=parameters.get("seed"),
        response_format=wire.get("response_format"),
        tools=wire.get("tools"),
        tool_choice=wire.get("tool_choice"),
    )
    if "temperature" in parameters:
        out.temperature = parameters["temperature"]
    if "top_p" in parameters:
        out.top_p = parameters["top_p"]
    return out


def _finish_reason(reason: str) -> FinishReason:
    return cast(FinishReason, reason) if reason in _FINISH else "stop"


def _usage(finish: ChatFinish) -> Usage:
    u = finish.usage
    return Usage(
        prompt_tokens=u.prompt_tokens,
        completion_tokens=u.completion_tokens,
        total_tokens=u.total_tokens,
    )


def _result(finish: ChatFinish, model: str) -> ChatResult:
    calls = [ToolCall(id=c.id, name=c.name, arguments=c.arguments) for c in finish.tool_calls]
    return ChatResult(
        model=model,
        message=ChatMessage(role="assistant", content=finish.text, tool_calls=calls),
        finish_reason=_finish_reason(finish.finish_reason),
        usage=_usage(finish),
    )


async def _chunks(engine: LocalChatEngine, request: ChatRequest) -> AsyncGenerator[ChatChunk, None]:
    """The engine's events as the runtime's chunks (what the wire module renders)."""
    try:
        async for event in engine.stream(request):
            if isinstance(event, ChatDelta):
                yield ChatChunk(content=event.text)
                continue
            yield ChatChunk(
                tool_calls=[
                    ToolCallDelta(index=i, id=c.id, name=c.name, arguments=c.arguments)
                    for i, c in enumerate(event.tool_calls)
                ],
                finish_reason=_finish_reason(event.finish_reason),
                usage=_usage(event),
            )
    except LocalChatError as error:
        raise InvalidParam(str(error)) from error


def _error(status: int, message: str, code: str | None = None) -> JSONResponse:
    return JSONResponse(openai_wire.error_body(status, code, message), status)


def create_local_openai_app(
    chat: LocalChatEngine | None = None, embedder: LocalEmbedder | None = None
) -> FastAPI:
    """The serve-local app; engines are created (and load lazily) unless given."""
    chat_engine = chat or LocalChatEngine()
    embed_engine = embedder or LocalEmbedder()
    reranker = LocalReranker(embed_engine)
    app = FastAPI(title="ore local models", docs_url=None, redoc_url=None)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, error: RequestValidationError) -> JSONResponse:
        first = error.errors()[0] if error.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ())[1:])
        return _error(400, f"invalid parameter {where}: {first.get('msg', 'invalid')}")

    @app.exception_handler(LocalChatError)
    async def chat_error(_: Request, error: LocalChatError) -> JSONResponse:
        return _error(400, str(error))

    @app.exception_handler(OreError)
    async def ore_error(_: Request, error: OreError) -> JSONResponse:
        return _error(error.status, error.message, error.code)

    @app.get("/v1/models")
    async def models() -> JSONResponse:
        names = (CHAT_MODEL_NAME, EMBEDDING_MODEL_NAME, RERANK_MODEL_NAME)
        return JSONResponse(openai_wire.models_json((n, "ore") for n in names))

    @app.post("/v1/chat/completions")
    async def chat_completions(body: ChatBody) -> Response:
        request = _engine_request(body)
        if body.stream:
            chunks = await openai_wire.started(_chunks(chat_engine, request))
            frames = openai_wire.chat_events(chunks, body.model, include_usage=body.include_usage)
            return openai_wire.event_stream(frames)
        finish = await chat_engine.complete(request)
        return JSONResponse(openai_wire.completion_json(_result(finish, body.model), body.model))

    @app.post("/v1/embeddings")
    async def embeddings(body: LocalEmbeddingsBody) -> JSONResponse:
        result = await embed_engine.aembed(body.texts)
        return JSONResponse(
            openai_wire.embeddings_json(
                result.vectors, body.model, result.prompt_tokens, body.encoding_format
            )
        )

    @app.post("/v1/rerank")
    async def rerank(body: RerankBody) -> dict[str, Any]:
        ranked = await reranker.arerank(body.query, body.documents, body.top_n)
        results = [
            {"index": r.index, "relevance_score": r.score, "document": {"text": r.text}}
            for r in ranked
        ]
        return {"model": body.model, "results": results}

    return app
