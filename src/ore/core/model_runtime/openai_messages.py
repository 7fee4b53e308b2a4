"""Translation between ore's entities and OpenAI's chat-completions wire format."""

from __future__ import annotations

from typing import Any

from ore.core.model_runtime.entities import (
    ChatChunk,
    ChatMessage,
    ChatRequest,
    ImagePart,
    NamedToolChoice,
    ResponseFormat,
    ToolCallDelta,
    Usage,
)

_FINISH = {"stop", "length", "tool_calls", "content_filter"}


def message_to_openai(message: ChatMessage) -> dict[str, Any]:
    """One message in OpenAI's shape."""
    out: dict[str, Any] = {"role": message.role}
    if isinstance(message.content, str):
        out["content"] = message.content
    else:
        out["content"] = [
            {"type": "image_url", "image_url": {"url": p.url, "detail": p.detail}}
            if isinstance(p, ImagePart)
            else {"type": "text", "text": p.text}
            for p in message.content
        ]
    if message.name:
        out["name"] = message.name
    if message.tool_calls:
        out["tool_calls"] = [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
            for c in message.tool_calls
        ]
        if not message.content:
            out["content"] = None
    if message.tool_call_id:
        out["tool_call_id"] = message.tool_call_id
    return out


def response_format_to_openai(fmt: ResponseFormat) -> dict[str, Any]:
    if fmt.type == "json_schema":
        return {
            "type": "json_schema",
            "json_schema": {"name": fmt.schema_name, "schema": fmt.json_schema or {}},
        }
    return {"type": fmt.type}


def request_body(request: ChatRequest, parameters: dict[str, Any]) -> dict[str, Any]:
    """The keyword arguments of ``chat.completions.create`` (always streaming)."""
    body: dict[str, Any] = {
        "model": request.model,
        "messages": [message_to_openai(m) for m in request.messages],
        "stream": True,
        "stream_options": {"include_usage": True},
        **parameters,
    }
    if request.tools:
        body["tools"] = [
            {
                "type": "function",
                "function": {
                    "name": t.name,
                    "description": t.description,
                    "parameters": t.parameters,
                },
            }
            for t in request.tools
        ]
    if isinstance(request.tool_choice, NamedToolChoice):
        body["tool_choice"] = {"type": "function", "function": {"name": request.tool_choice.name}}
    elif request.tool_choice is not None:
        body["tool_choice"] = request.tool_choice
    if request.response_format is not None:
        body["response_format"] = response_format_to_openai(request.response_format)
    if request.user:
        body["user"] = request.user
    return body


def chunk_from_openai(data: Any) -> ChatChunk:
    """One SDK ``ChatCompletionChunk`` as a :class:`ChatChunk`."""
    chunk = ChatChunk()
    usage = getattr(data, "usage", None)
    if usage is not None:
        chunk.usage = Usage(
            prompt_tokens=usage.prompt_tokens or 0,
            completion_tokens=usage.completion_tokens or 0,
        )
    for choice in data.choices or []:
        delta = choice.delta
        if delta is not None:
            chunk.content += delta.content or ""
            for call in delta.tool_calls or []:
                function = call.function
                chunk.tool_calls.append(
                    ToolCallDelta(
                        index=call.index,
                        id=call.id,
                        name=function.name if function else None,
                        arguments=(function.arguments or "") if function else "",
                    )
                )
        if choice.finish_reason:
            reason = choice.finish_reason
            chunk.finish_reason = reason if reason in _FINISH else "stop"
    return chunk
