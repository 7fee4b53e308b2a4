"""The Anthropic adapter, on the official ``anthropic`` SDK (Messages API, streaming).

Anthropic's stream events (message_start, content_block_start/delta/stop, message_delta,
message_stop) become the same :class:`ChatChunk` objects as every other adapter.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import anthropic
import httpx

from ore.core.model_runtime.base import Credentials, ModelAdapter
from ore.core.model_runtime.catalogue import ProviderDescriptor
from ore.core.model_runtime.entities import (
    ChatChunk,
    ChatMessage,
    ChatRequest,
    FinishReason,
    ImagePart,
    NamedToolChoice,
    ToolCallDelta,
    Usage,
)
from ore.core.model_runtime.errors import (
    CompletionRequestError,
    CredentialsInvalid,
    InvalidModelParameter,
    ModelRuntimeError,
    RateLimited,
    malformed,
    timed_out,
    unreachable,
)
from ore.core.model_runtime.openai_compat import provider_message
from ore.core.model_runtime.retry import CallPolicy

DEFAULT_MAX_TOKENS = 4096
_STOP: dict[str, FinishReason] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}


def map_anthropic_error(exc: Exception) -> ModelRuntimeError:
    """Any failure of an SDK call as a runtime error with Dify's code."""
    if isinstance(exc, ModelRuntimeError):
        return exc
    if isinstance(exc, anthropic.AuthenticationError | anthropic.PermissionDeniedError):
        return CredentialsInvalid(provider_message(exc))
    if isinstance(exc, anthropic.RateLimitError):
        return RateLimited(provider_message(exc))
    if isinstance(exc, anthropic.APITimeoutError | httpx.TimeoutException):
        return timed_out()
    if isinstance(exc, anthropic.APIConnectionError):
        return unreachable(exc.__cause__ or exc)
    if isinstance(exc, anthropic.APIStatusError):
        message = provider_message(exc)
        if exc.status_code >= 500:
            return CompletionRequestError(message, retryable=True)
        if exc.status_code == 400 and "prompt is too long" in message.lower():
            return InvalidModelParameter(message, parameter="messages")
        return CompletionRequestError(message)
    return malformed(exc)


def _image_block(part: ImagePart) -> dict[str, Any]:
    if part.url.startswith("data:"):
        header, _, data = part.url.partition(",")
        media_type = header[5:].split(";")[0] or "image/png"
        return {
            "type": "image",
            "source": {"type": "base64", "media_type": media_type, "data": data},
        }
    return {"type": "image", "source": {"type": "url", "url": part.url}}


def _content_blocks(message: ChatMessage) -> list[dict[str, Any]]:
    if isinstance(message.content, str):
        blocks = [{"type": "text", "text": message.content}] if message.content else []
    else:
        blocks = [
            _image_block(p) if isinstance(p, ImagePart) else {"type": "text", "text": p.text}
            for p in message.content
        ]
    for call in message.tool_calls:
        blocks.append(
            {
                "type": "tool_use",
                "id": call.id,
                "name": call.name,
                "input": json.loads(call.arguments or "{}"),
            }
        )
    return blocks


def messages_to_anthropic(messages: list[ChatMessage]) -> tuple[str, list[dict[str, Any]]]:
    """System text and the message list; tool results travel as user ``tool_result`` blocks."""
    system = "\n\n".join(m.text() for m in messages if m.role == "system")
    out: list[dict[str, Any]] = []
    for message in messages:
        if message.role == "system":
            continue
        if message.role == "tool":
            block = {
                "type": "tool_result",
                "tool_use_id": message.tool_call_id or "",
                "content": message.text(),
            }
            out.append({"role": "user", "content": [block]})
        else:
            out.append({"role": message.role, "content": _content_blocks(message)})
    return system, out


def _tool_choice(choice: Any) -> dict[str, Any]:
    if isinstance(choice, NamedToolChoice):
        return {"type": "tool", "name": choice.name}
    return {"type": {"auto": "auto", "required": "any", "none": "none"}[choice]}


class AnthropicAdapter(ModelAdapter):
    """Claude models through ``/v1/messages``."""

    def __init__(self, descriptor: ProviderDescriptor, default_base_url: str | None) -> None:
        self.descriptor = descriptor
        self.default_base_url = default_base_url

    def make_client(
        self,
        credentials: Credentials,
        http_client: httpx.AsyncClient | None,
        policy: CallPolicy | None = None,
    ) -> anthropic.AsyncAnthropic:
        policy = policy or CallPolicy()
        return anthropic.AsyncAnthropic(
            api_key=str(credentials.get("anthropic_api_key") or ""),
            base_url=credentials.get("anthropic_api_url") or self.default_base_url,
            http_client=http_client,
            max_retries=0,
            timeout=policy.http_timeout(),
        )

    def request_body(self, request: ChatRequest, parameters: dict[str, Any]) -> dict[str, Any]:
        """The keyword arguments of ``messages.create`` (always streaming)."""
        if request.response_format is not None and request.response_format.type != "text":
            raise InvalidModelParameter(
                "Anthropic models do not take response_format.", parameter="response_format"
            )
        system, messages = messages_to_anthropic(request.messages)
        body: dict[str, Any] = {"model": request.model, "messages": messages, "stream": True}
        found = self.model_descriptor(request.model)
        params = dict(parameters)
        body["max_tokens"] = params.pop("max_tokens", None) or (
            found.max_output_tokens if found and found.max_output_tokens else DEFAULT_MAX_TOKENS
        )
        if "stop" in params:
            stop = params.pop("stop")
            body["stop_sequences"] = [stop] if isinstance(stop, str) else stop
        body.update(params)
        if system:
            body["system"] = system
        if request.tools:
            body["tools"] = [
                {"name": t.name, "description": t.description, "input_schema": t.parameters}
                for t in request.tools
            ]
        if request.tool_choice is not None:
            body["tool_choice"] = _tool_choice(request.tool_choice)
        return body

    async def open_stream(
        self,
        request: ChatRequest,
        parameters: dict[str, Any],
        credentials: Credentials,
        http_client: httpx.AsyncClient | None,
        policy: CallPolicy,
    ) -> AsyncIterator[ChatChunk]:
        body = self.request_body(request, parameters)
        client = self.make_client(credentials, http_client, policy)
        try:
            stream = await client.messages.create(**body)
            try:
                async for chunk in _chunks(stream):
                    yield chunk
            finally:
                await stream.close()
        except Exception as exc:
            raise map_anthropic_error(exc) from exc

    async def check_credentials(
        self, credentials: Credentials, http_client: httpx.AsyncClient | None
    ) -> None:
        client = self.make_client(credentials, http_client)
        try:
            await client.models.list(limit=1)
        except Exception as exc:
            raise CredentialsInvalid(map_anthropic_error(exc).message) from exc


async def _chunks(stream: Any) -> AsyncIterator[ChatChunk]:
    """Anthropic stream events as chunks; tool_use blocks numbered from 0 in order."""
    tool_index: dict[int, int] = {}
    prompt_tokens = 0
    stopped = False
    async for event in stream:
        kind = event.type
        if kind == "message_start":
            prompt_tokens = event.message.usage.input_tokens or 0
        elif kind == "content_block_start" and event.content_block.type == "tool_use":
            index = tool_index.setdefault(event.index, len(tool_index))
            block = event.content_block
            yield ChatChunk(tool_calls=[ToolCallDelta(index=index, id=block.id, name=block.name)])
        elif kind == "content_block_delta":
            delta = event.delta
            if delta.type == "text_delta":
                yield ChatChunk(content=delta.text)
            elif delta.type == "input_json_delta" and event.index in tool_index:
                call = ToolCallDelta(index=tool_index[event.index], arguments=delta.partial_json)
                yield ChatChunk(tool_calls=[call])
        elif kind == "message_delta":
            usage = Usage(prompt_tokens=prompt_tokens, completion_tokens=event.usage.output_tokens)
            reason = _STOP.get(event.delta.stop_reason or "", "stop")
            yield ChatChunk(finish_reason=reason, usage=usage)
        elif kind == "message_stop":
            stopped = True
    if not stopped:
        raise CompletionRequestError("The model provider's stream ended early.")
