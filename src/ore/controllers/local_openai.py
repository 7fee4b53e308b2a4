"""`ore models serve-local`: the local models as an OpenAI-compatible server on loopback.

A small standalone FastAPI app (no database, no auth: it binds to loopback) over the engines
of :mod:`ore.core.local_models`: ``POST /v1/chat/completions`` (blocking, or SSE chunks in
OpenAI's format), ``POST /v1/embeddings`` (float or base64), ``POST /v1/rerank`` and
``GET /v1/models``. Chat requests queue in front of the one model; errors use OpenAI's shape.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

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
    ToolCall,
)


class ChatBody(BaseModel):
    """The fields of OpenAI's chat request the local model honours; others are ignored."""

    model_config = ConfigDict(extra="ignore")

    model: str = CHAT_MODEL_NAME
    messages: list[dict[str, Any]] = Field(min_length=1)
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    temperature: float = Field(default=0.7, ge=0, le=2)
    top_p: float = Field(default=0.95, gt=0, le=1)
    stop: str | list[str] | None = None
    seed: int | None = None
    stream: bool = False
    stream_options: dict[str, Any] | None = None
    response_format: dict[str, Any] | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None

    def to_request(self) -> ChatRequest:
        stop = [self.stop] if isinstance(self.stop, str) else list(self.stop or [])
        return ChatRequest(
            messages=self.messages,
            max_tokens=self.max_completion_tokens or self.max_tokens,
            temperature=self.temperature,
            top_p=self.top_p,
            stop=stop,
            seed=self.seed,
            response_format=self.response_format,
            tools=self.tools,
            tool_choice=self.tool_choice,
        )


class EmbeddingsBody(BaseModel):
    model_config = ConfigDict(extra="ignore")

    model: str = EMBEDDING_MODEL_NAME
    input: str | list[str] = Field(min_length=1)
    encoding_format: str = "float"


class RerankBody(BaseModel):
    model_config = ConfigDict(extra="ignore")

    model: str = RERANK_MODEL_NAME
    query: str
    documents: list[str]
    top_n: int | None = Field(default=None, ge=1)


def _error(status: int, message: str, kind: str = "invalid_request_error") -> JSONResponse:
    return JSONResponse({"error": {"message": message, "type": kind, "code": None}}, status)


def _tool_calls(calls: list[ToolCall], *, stream: bool) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for i, call in enumerate(calls):
        item: dict[str, Any] = {
            "id": call.id,
            "type": "function",
            "function": {"name": call.name, "arguments": call.arguments},
        }
        out.append({"index": i, **item} if stream else item)
    return out


def _usage(finish: ChatFinish) -> dict[str, int]:
    u = finish.usage
    return {
        "prompt_tokens": u.prompt_tokens,
        "completion_tokens": u.completion_tokens,
        "total_tokens": u.total_tokens,
    }


def _completion(finish: ChatFinish, model: str) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": finish.text or None}
    if finish.tool_calls:
        message["tool_calls"] = _tool_calls(finish.tool_calls, stream=False)
    elif not finish.text:
        message["content"] = ""
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish.finish_reason}],
        "usage": _usage(finish),
    }


async def _sse(engine: LocalChatEngine, body: ChatBody, request: ChatRequest) -> AsyncIterator[str]:
    base = {
        "id": f"chatcmpl-{uuid.uuid4().hex}",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": body.model,
    }
    include_usage = bool((body.stream_options or {}).get("include_usage"))

    def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> str:
        choice = {"index": 0, "delta": delta, "finish_reason": finish}
        return f"data: {json.dumps({**base, 'choices': [choice], **extra})}\n\n"

    yield chunk({"role": "assistant", "content": ""})
    try:
        async for event in engine.stream(request):
            if isinstance(event, ChatDelta):
                yield chunk({"content": event.text})
                continue
            delta: dict[str, Any] = {}
            if event.tool_calls:
                delta["tool_calls"] = _tool_calls(event.tool_calls, stream=True)
            if include_usage:
                yield chunk(delta, event.finish_reason)
                usage_chunk = {**base, "choices": [], "usage": _usage(event)}
                yield f"data: {json.dumps(usage_chunk)}\n\n"
            else:  # no separate usage chunk asked for: carry it on the last chunk
                yield chunk(delta, event.finish_reason, usage=_usage(event))
    except LocalChatError as error:  # headers are sent: report in-band, as OpenAI does
        payload = {"error": {"message": str(error), "type": "invalid_request_error"}}
        yield f"data: {json.dumps(payload)}\n\n"
    yield "data: [DONE]\n\n"


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

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        names = (CHAT_MODEL_NAME, EMBEDDING_MODEL_NAME, RERANK_MODEL_NAME)
        data = [{"id": n, "object": "model", "created": 0, "owned_by": "ore"} for n in names]
        return {"object": "list", "data": data}

    @app.post("/v1/chat/completions", response_model=None)
    async def chat_completions(body: ChatBody) -> dict[str, Any] | StreamingResponse:
        request = body.to_request()
        if body.stream:
            return StreamingResponse(
                _sse(chat_engine, body, request), media_type="text/event-stream"
            )
        return _completion(await chat_engine.complete(request), body.model)

    @app.post("/v1/embeddings")
    async def embeddings(body: EmbeddingsBody) -> dict[str, Any]:
        texts = [body.input] if isinstance(body.input, str) else body.input
        result = await embed_engine.aembed(texts)
        data: list[dict[str, Any]] = []
        for i, row in enumerate(result.vectors):
            vector: Any = row.tolist()
            if body.encoding_format == "base64":  # what the openai SDK asks for by default
                vector = base64.b64encode(row.astype("<f4").tobytes()).decode()
            data.append({"object": "embedding", "index": i, "embedding": vector})
        usage = {"prompt_tokens": result.prompt_tokens, "total_tokens": result.prompt_tokens}
        return {"object": "list", "data": data, "model": body.model, "usage": usage}

    @app.post("/v1/rerank")
    async def rerank(body: RerankBody) -> dict[str, Any]:
        ranked = await reranker.arerank(body.query, body.documents, body.top_n)
        results = [
            {"index": r.index, "relevance_score": r.score, "document": {"text": r.text}}
            for r in ranked
        ]
        return {"model": body.model, "results": results}

    return app
