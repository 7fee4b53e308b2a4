"""Translation between ore's entities and OpenAI's chat-completions wire format."""

from __future__ import annotations

from typing import Any

from ore.core.model_runtime.entities import (
    ChatChunk,
    ChatMessage,
    ChatRequest,
    FinishReason,
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
    """The JSON body of a ``/chat/completions`` call (always streaming)."""
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


def chunk_from_openai(data: dict[str, Any]) -> ChatChunk:
    """One decoded ``chat.completion.chunk`` event as a :class:`ChatChunk`.

    Reads the JSON object as it came: building the SDK's model object first cost more
    than the rest of a chunk's handling. A field of the wrong shape raises (``TypeError``,
    ``AttributeError`` or a validation error), which the adapter reports as a malformed
    response.
    """
    content = ""
    calls: list[ToolCallDelta] = []
    finish: FinishReason | None = None
    for choice in data.get("choices") or ():
        delta = choice.get("delta")
        if delta:
            content += delta.get("content") or ""
            for call in delta.get("tool_calls") or ():
                function = call.get("function")
                calls.append(
                    ToolCallDelta(
                        index=call["index"],
                        id=call.get("id"),
                        name=function.get("name") if function else None,
                        arguments=(function.get("arguments") or "") if function else "",
                    )
                )
        reason = choice.get("finish_reason")
        if reason:
            finish = reason if reason in _FINISH else "stop"
    usage = data.get("usage")
    return ChatChunk(
        content=content,
        tool_calls=calls,
        finish_reason=finish,
        usage=Usage(
            prompt_tokens=usage.get("prompt_tokens") or 0,
            completion_tokens=usage.get("completion_tokens") or 0,
        )
        if usage is not None
        else None,
    )
