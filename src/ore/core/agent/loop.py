"""The function-calling agent loop over the model runtime's streamed tool calls.

Each turn streams the model with the tools offered: text is yielded at once (nothing is
buffered), tool-call pieces are gathered by index. A turn without tool calls ends the loop;
otherwise each call is run, in order, the assistant message with its calls and one tool
message per result are appended, and the model is called again. After ``max_iterations``
turns that called tools, one last call is made without tools so the model must answer
(matches Dify's function-call agent runner, which drops the tools on its last step).

Failures of tools never escape: an unknown tool, arguments that are not a JSON object or a
failing tool become a tool result the model reads. Failures of the model do escape, as the
runtime's errors, for the caller to report.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncGenerator, AsyncIterator, Mapping, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any, Protocol

from ore.core.agent.events import (
    AgentAnswer,
    AgentEvent,
    AgentFinished,
    AgentThought,
    ToolInvocation,
    add_usage,
)
from ore.core.errors import InvalidParam
from ore.core.model_runtime.entities import (
    ChatChunk,
    ChatMessage,
    ChatRequest,
    ToolCall,
    ToolCallDelta,
    ToolChoice,
    Usage,
    merge_tool_calls,
)
from ore.core.tools.base import Tool, ToolResult


class ChatModel(Protocol):
    """A model bound to its credentials (``ore.services.model_providers.BoundModel`` fits)."""

    def stream_chat(self, request: ChatRequest) -> AsyncGenerator[ChatChunk, None]: ...


@dataclass
class _Turn:
    """What one streamed model call produced."""

    text: list[str] = field(default_factory=list)
    calls: dict[int, ToolCall] = field(default_factory=dict)
    usage: Usage | None = None

    def add_calls(self, deltas: Sequence[ToolCallDelta]) -> None:
        merge_tool_calls(self.calls, deltas)

    def tool_calls(self, position: int) -> list[ToolCall]:
        """The calls in index order; a call without an id gets one (some servers omit it)."""
        calls = [self.calls[i] for i in sorted(self.calls)]
        for number, call in enumerate(calls):
            call.id = call.id or f"call_{position}_{number}"
        return [call for call in calls if call.name]


def _index_tools(tools: Sequence[Tool]) -> dict[str, Tool]:
    """Tools by the function name the model sees; two tools may not share one."""
    by_name: dict[str, Tool] = {}
    for tool in tools:
        name = tool.identity.name
        if name in by_name:
            raise InvalidParam(f"Two tools are named {name!r}; an agent can offer only one.")
        by_name[name] = tool
    return by_name


def _parse_arguments(text: str) -> dict[str, Any] | str:
    """The arguments as a JSON object, or the raw text when they are not one."""
    if not text.strip():
        return {}
    try:
        parsed = json.loads(text)
    except ValueError:
        return text
    return parsed if isinstance(parsed, dict) else text


async def _invoke(tools: Mapping[str, Tool], call: ToolCall) -> ToolInvocation:
    started = time.monotonic()
    arguments = _parse_arguments(call.arguments)
    tool = tools.get(call.name)
    if tool is None:
        result = ToolResult.failure(f"There is no tool named {call.name}.")
    elif isinstance(arguments, str):
        result = ToolResult.failure(f"The arguments of {call.name} are not a JSON object.")
    else:
        result = await tool.invoke(arguments)
    return ToolInvocation(
        call_id=call.id,
        name=call.name,
        arguments=arguments,
        result=result,
        provider=tool.identity.provider if tool else None,
        elapsed=round(time.monotonic() - started, 6),
    )


def _thought(
    position: int,
    text: str,
    invocations: Sequence[ToolInvocation],
    tools: Mapping[str, Tool],
    usage: Usage | None,
) -> AgentThought:
    """Dify's agent_thought of one turn (JSON keyed by tool name, names joined by ';')."""

    def label(name: str) -> dict[str, str]:
        tool = tools.get(name)
        return dict(tool.identity.label) if tool else {"en_US": name, "zh_Hans": name}

    names = [i.name for i in invocations]
    return AgentThought(
        position=position,
        thought=text,
        tool=";".join(names),
        tool_input=(
            json.dumps({i.name: i.arguments for i in invocations}, ensure_ascii=False)
            if invocations
            else ""
        ),
        observation=(
            json.dumps({i.name: i.result.text for i in invocations}, ensure_ascii=False)
            if invocations
            else ""
        ),
        tool_labels={name: label(name) for name in names},
        invocations=tuple(invocations),
        usage=usage,
    )


def _request(
    template: ChatRequest, history: list[ChatMessage], offered: bool, first: bool
) -> ChatRequest:
    return template.model_copy(
        update={
            "messages": list(history),
            "tools": template.tools if offered else [],
            "tool_choice": template.tool_choice if offered and first else None,
        }
    )


async def run_agent(
    model: ChatModel,
    messages: Sequence[ChatMessage],
    tools: Sequence[Tool],
    *,
    max_iterations: int = 5,
    model_name: str = "",
    parameters: Mapping[str, Any] | None = None,
    user: str | None = None,
    tool_choice: ToolChoice | None = None,
) -> AsyncIterator[AgentEvent]:
    """Run the loop; yield :class:`AgentAnswer` deltas as they arrive, an
    :class:`AgentThought` per model turn, and one :class:`AgentFinished` last.

    ``model_name``, ``parameters`` and ``user`` go into every :class:`ChatRequest`
    (``BoundModel`` sets the model name itself). ``tool_choice`` applies to the first call
    only (to force a tool once); later calls let the model choose. At most
    ``max_iterations`` turns may call tools; then one call without tools closes the loop.
    """
    if max_iterations < 0:
        raise ValueError("max_iterations must be 0 or more")
    by_name = _index_tools(tools)
    template = ChatRequest(
        model=model_name,
        messages=[],
        parameters=dict(parameters or {}),
        tools=[tool.definition() for tool in tools],
        tool_choice=tool_choice,
        user=user,
    )
    history = list(messages)
    answer: list[str] = []
    total: Usage | None = None
    position = 0
    while True:
        position += 1
        offered = bool(tools) and position <= max_iterations
        turn = _Turn()
        stream = model.stream_chat(_request(template, history, offered, position == 1))
        async with aclosing(stream):
            async for chunk in stream:
                if chunk.content:
                    turn.text.append(chunk.content)
                    answer.append(chunk.content)
                    yield AgentAnswer(chunk.content)
                turn.add_calls(chunk.tool_calls)
                turn.usage = chunk.usage or turn.usage
        total = add_usage(total, turn.usage)
        text = "".join(turn.text)
        calls = turn.tool_calls(position) if offered else []
        if not calls:
            yield _thought(position, text, [], by_name, turn.usage)
            break
        history.append(ChatMessage(role="assistant", content=text, tool_calls=calls))
        invocations = [await _invoke(by_name, call) for call in calls]
        history.extend(
            ChatMessage(role="tool", content=i.result.text, tool_call_id=i.call_id)
            for i in invocations
        )
        yield _thought(position, text, invocations, by_name, turn.usage)
    history.append(ChatMessage(role="assistant", content=text))
    yield AgentFinished(
        answer="".join(answer), usage=total or Usage(), messages=history, model_calls=position
    )
