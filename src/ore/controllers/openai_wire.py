"""OpenAI's wire format for chat completions, embeddings and models, in one place.

Three surfaces speak it: the model gateway (:mod:`ore.controllers.gateway`, workspace keys),
an app as a model (:mod:`ore.controllers.openai_app`, app keys) and ``ore models
serve-local`` (:mod:`ore.controllers.local_openai`). Requests are parsed
by the bodies here into the model runtime's entities; answers are built from the runtime's
:class:`ChatChunk` and :class:`ChatResult`, so the blocking and streaming answers of both
surfaces come from the same functions. Shapes follow OpenAI's API reference
(https://platform.openai.com/docs/api-reference/chat).
"""

from __future__ import annotations

import base64
import json
import logging
import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Iterable, Mapping, Sequence
from contextlib import aclosing
from typing import Annotated, Any, Literal, TypeVar

import numpy as np
from fastapi.exceptions import RequestValidationError
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ore.core.errors import OreError
from ore.core.model_runtime.entities import (
    ChatChunk,
    ChatMessage,
    ChatRequest,
    ChatResult,
    ContentPart,
    ImagePart,
    NamedToolChoice,
    ResponseFormat,
    TextPart,
    ToolCall,
    ToolCallDelta,
    ToolChoice,
    ToolDefinition,
    Usage,
)

logger = logging.getLogger("ore.openai")

T = TypeVar("T")
W = TypeVar("W", bound=BaseModel)

ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    409: "conflict_error",
    413: "invalid_request_error",
    415: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
}
DONE = "data: [DONE]\n\n"
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def error_body(
    status: int, code: str | None, message: str, param: str | None = None
) -> dict[str, Any]:
    """OpenAI's error object; the SDK picks its exception class from the HTTP status."""
    kind = ERROR_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


def dumps(payload: Any) -> str:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"))


def sse(payload: Any) -> str:
    """One SSE frame: ``data: `` + compact JSON + a blank line."""
    return f"data: {dumps(payload)}\n\n"


# --- requests ----------------------------------------------------------------------------


class _Wire(BaseModel):
    model_config = ConfigDict(extra="ignore")


class FunctionCall(_Wire):
    name: str
    arguments: str = ""


class WireToolCall(_Wire):
    id: str
    type: Literal["function"] = "function"
    function: FunctionCall


class ImageUrl(_Wire):
    url: str
    detail: Literal["low", "high", "auto"] = "auto"


class TextContent(_Wire):
    type: Literal["text"]
    text: str


class ImageContent(_Wire):
    type: Literal["image_url"]
    image_url: ImageUrl


Content = Annotated[TextContent | ImageContent, Field(discriminator="type")]


class Message(_Wire):
    """One chat message; ``developer`` is OpenAI's newer name for ``system``."""

    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[Content] | None = None
    name: str | None = None
    tool_calls: list[WireToolCall] | None = None
    tool_call_id: str | None = None

    def to_runtime(self) -> ChatMessage:
        content: str | list[ContentPart]
        if isinstance(self.content, list):
            content = [
                TextPart(text=p.text)
                if isinstance(p, TextContent)
                else ImagePart(url=p.image_url.url, detail=p.image_url.detail)
                for p in self.content
            ]
        else:
            content = self.content or ""
        return ChatMessage(
            role="system" if self.role == "developer" else self.role,
            content=content,
            name=self.name,
            tool_calls=[
                ToolCall(id=c.id, name=c.function.name, arguments=c.function.arguments)
                for c in self.tool_calls or []
            ],
            tool_call_id=self.tool_call_id,
        )


class FunctionDefinition(_Wire):
    name: str = Field(min_length=1)
    description: str = ""
    parameters: dict[str, Any] = Field(default_factory=lambda: {"type": "object"})


class Tool(_Wire):
    type: Literal["function"]
    function: FunctionDefinition


class FunctionName(_Wire):
    name: str = Field(min_length=1)


class NamedChoice(_Wire):
    type: Literal["function"]
    function: FunctionName


class JsonSchemaFormat(_Wire):
    name: str = "response"
    json_schema: dict[str, Any] = Field(default_factory=dict, alias="schema")


class ResponseFormatBody(_Wire):
    type: Literal["text", "json_object", "json_schema"]
    json_schema: JsonSchemaFormat | None = None

    def to_runtime(self) -> ResponseFormat:
        schema = self.json_schema
        return ResponseFormat(
            type=self.type,
            json_schema=schema.json_schema if schema else None,
            schema_name=schema.name if schema else "response",
        )


class StreamOptions(_Wire):
    include_usage: bool = False


class ChatCompletionBody(_Wire):
    """The fields of OpenAI's chat request ore honours; unknown ones are ignored.

    Ranges are OpenAI's; each model's own limits are checked by the runtime's parameter
    rules, which name the parameter too.
    """

    model: str = Field(min_length=1)
    messages: list[Message] = Field(min_length=1)
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1)
    presence_penalty: float | None = Field(default=None, ge=-2, le=2)
    frequency_penalty: float | None = Field(default=None, ge=-2, le=2)
    stop: str | list[str] | None = None
    seed: int | None = None
    n: Literal[1] | None = None
    stream: bool = False
    stream_options: StreamOptions | None = None
    response_format: ResponseFormatBody | None = None
    tools: list[Tool] | None = None
    tool_choice: Literal["auto", "none", "required"] | NamedChoice | None = None
    user: str | None = None

    @field_validator("stop")
    @classmethod
    def _at_most_four_stops(cls, value: str | list[str] | None) -> str | list[str] | None:
        if isinstance(value, list) and len(value) > 4:
            raise ValueError("at most 4 stop sequences")
        return value

    @property
    def include_usage(self) -> bool:
        return bool(self.stream_options and self.stream_options.include_usage)

    def parameters(self) -> dict[str, Any]:
        """The tunable parameters that were set, under the runtime's names."""
        stop = [self.stop] if isinstance(self.stop, str) else self.stop
        values = {
            "temperature": self.temperature,
            "top_p": self.top_p,
            "presence_penalty": self.presence_penalty,
            "frequency_penalty": self.frequency_penalty,
            "max_tokens": self.max_completion_tokens or self.max_tokens,
            "seed": self.seed,
            "stop": stop or None,
        }
        return {name: value for name, value in values.items() if value is not None}

    def to_runtime(self, model: str | None = None) -> ChatRequest:
        """The runtime's request; ``model`` replaces the wire id (``provider/name``)."""
        choice: ToolChoice | None
        if isinstance(self.tool_choice, NamedChoice):
            choice = NamedToolChoice(name=self.tool_choice.function.name)
        else:
            choice = self.tool_choice
        return ChatRequest(
            model=model or self.model,
            messages=[m.to_runtime() for m in self.messages],
            parameters=self.parameters(),
            tools=[
                ToolDefinition(
                    name=t.function.name,
                    description=t.function.description,
                    parameters=t.function.parameters,
                )
                for t in self.tools or []
            ],
            tool_choice=choice,
            response_format=self.response_format.to_runtime() if self.response_format else None,
            stream=self.stream,
            user=self.user,
        )


class AppChatBody(_Wire):
    """A chat request to an app (``Authorization: Bearer app-…``): the app is the model.

    ``model`` is accepted and ignored, and so are the sampling fields: the app's own model
    settings decide. ``inputs`` and ``conversation_id`` are ore's additions (the ``openai``
    SDK sends them through ``extra_body``).
    """

    model: str | None = None
    messages: list[Message] = Field(min_length=1)
    stream: bool = False
    stream_options: StreamOptions | None = None
    user: str | None = Field(default=None, max_length=255)
    inputs: dict[str, Any] | None = None
    conversation_id: str | None = None

    @property
    def include_usage(self) -> bool:
        return bool(self.stream_options and self.stream_options.include_usage)


class EmbeddingsBody(_Wire):
    model: str = Field(min_length=1)
    input: str | list[str] = Field(min_length=1)
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: int | None = Field(default=None, ge=1)
    user: str | None = None

    @property
    def texts(self) -> list[str]:
        return [self.input] if isinstance(self.input, str) else self.input


def parse(schema: type[W], payload: Any) -> W:
    """``payload`` (a JSON body) as ``schema``, for routes whose schema depends on the key.

    A failure is raised as FastAPI's own, so it is rendered exactly like a body FastAPI
    checked itself (400 ``invalid_param``, ``param`` naming the field)."""
    try:
        return schema.model_validate(payload)
    except ValidationError as error:
        failures = [
            {**item, "loc": ("body", *item["loc"])} for item in error.errors(include_url=False)
        ]
        raise RequestValidationError(failures) from None


# --- answers -----------------------------------------------------------------------------


def completion_id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex}"


def usage_json(usage: Usage) -> dict[str, int]:
    prompt, completion = usage.prompt_tokens, usage.completion_tokens
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": usage.total_tokens or prompt + completion,
    }


def completion_json(result: ChatResult, model: str) -> dict[str, Any]:
    """A ``chat.completion`` object; ``model`` is the id the client asked for."""
    message: dict[str, Any] = {"role": "assistant", "content": result.message.text()}
    if result.message.tool_calls:
        message["content"] = message["content"] or None
        message["tool_calls"] = [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
            for c in result.message.tool_calls
        ]
    return {
        "id": completion_id(),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": result.finish_reason}],
        "usage": usage_json(result.usage),
    }


def _tool_call_delta(delta: ToolCallDelta) -> dict[str, Any]:
    function: dict[str, Any] = {"arguments": delta.arguments}
    out: dict[str, Any] = {"index": delta.index}
    if delta.id:
        out["id"] = delta.id
        out["type"] = "function"
    if delta.name:
        function["name"] = delta.name
    out["function"] = function
    return out


def error_event(error: Exception) -> dict[str, Any]:
    """An error raised after the stream started, as OpenAI sends it in-band."""
    if isinstance(error, OreError):
        param = getattr(error, "parameter", None)
        return error_body(error.status, error.code, error.message, param)
    logger.error("chat stream failed", exc_info=error)
    return error_body(500, "unknown", "The stream failed inside ore.")


async def chat_events(
    chunks: AsyncGenerator[ChatChunk, None],
    model: str,
    *,
    include_usage: bool,
    chunk_id: str | None = None,
    extra: Mapping[str, Any] | None = None,
) -> AsyncIterator[str]:
    """``chat.completion.chunk`` frames, then ``[DONE]``; a failure mid-stream becomes a
    final error frame, so a client never waits on a stream that will not end.

    ``chunk_id`` replaces the random id, ``extra`` adds fields to every chunk (an app's
    conversation id: the SDK keeps unknown fields)."""
    base = {
        "id": chunk_id or completion_id(),
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        **(extra or {}),
    }

    def frame(delta: dict[str, Any], finish: str | None = None) -> str:
        return sse({**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})

    yield frame({"role": "assistant", "content": ""})
    try:
        async with aclosing(chunks):
            async for chunk in chunks:
                delta: dict[str, Any] = {}
                if chunk.content:
                    delta["content"] = chunk.content
                if chunk.tool_calls:
                    delta["tool_calls"] = [_tool_call_delta(d) for d in chunk.tool_calls]
                if delta or chunk.finish_reason:
                    yield frame(delta, chunk.finish_reason)
                if chunk.usage is not None and include_usage:
                    yield sse({**base, "choices": [], "usage": usage_json(chunk.usage)})
    except Exception as error:  # headers are sent: report in-band, as OpenAI does
        yield sse(error_event(error))
    yield DONE


def event_stream(frames: AsyncIterator[str]) -> StreamingResponse:
    return StreamingResponse(frames, media_type="text/event-stream", headers=SSE_HEADERS)


async def started(stream: AsyncGenerator[T, None]) -> AsyncGenerator[T, None]:
    """``stream`` with its first item already awaited.

    Errors before the first item (bad parameters, refused credentials, 429) then raise
    here, while an HTTP status can still say what went wrong; later ones are in-band.
    """
    try:
        first = await anext(stream)
    except StopAsyncIteration:
        return stream  # exhausted: iterating it again yields nothing
    except BaseException:
        await stream.aclose()
        raise
    return _prepend(first, stream)


async def _prepend(first: T, rest: AsyncGenerator[T, None]) -> AsyncGenerator[T, None]:
    async with aclosing(rest):
        yield first
        async for item in rest:
            yield item


def embeddings_json(
    vectors: Iterable[Sequence[float] | np.ndarray[Any, Any]],
    model: str,
    prompt_tokens: int,
    encoding_format: str,
) -> dict[str, Any]:
    """An embeddings list; base64 is little-endian float32, what the ``openai`` SDK sends
    by default and decodes itself."""
    data: list[dict[str, Any]] = []
    for index, vector in enumerate(vectors):
        if encoding_format == "base64":
            raw = np.asarray(vector, dtype="<f4").tobytes()
            embedding: Any = base64.b64encode(raw).decode()
        elif isinstance(vector, np.ndarray):
            embedding = vector.tolist()
        else:
            embedding = list(vector)
        data.append({"object": "embedding", "index": index, "embedding": embedding})
    usage = {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens}
    return {"object": "list", "data": data, "model": model, "usage": usage}


def models_json(models: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """A model list from ``(id, owned_by)`` pairs."""
    data = [{"id": i, "object": "model", "created": 0, "owned_by": o} for i, o in models]
    return {"object": "list", "data": data}
