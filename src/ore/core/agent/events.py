"""What the agent loop yields: answer deltas, one thought per model turn, then the end.

The thought carries Dify's ``agent_thought`` fields ready to store and send (matches Dify's
function-calling agent: ``tool`` is the called tool names joined by ``;``, ``tool_input``
and ``observation`` are JSON objects keyed by tool name), plus the calls themselves for
callers that keep more detail.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from ore.core.model_runtime.entities import ChatMessage, Usage
from ore.core.tools.base import ToolResult


@dataclass(frozen=True, slots=True)
class AgentAnswer:
    """A piece of the model's text, passed on as it arrives."""

    text: str


@dataclass(frozen=True, slots=True)
class ToolInvocation:
    """One tool call of a turn and what the tool answered.

    ``arguments`` is the parsed JSON object, or the raw text when the model sent something
    that is not a JSON object (the result then says so). ``provider`` is None when the
    model named a tool it was not given.
    """

    call_id: str
    name: str
    arguments: dict[str, Any] | str
    result: ToolResult
    provider: str | None
    elapsed: float


@dataclass(frozen=True, slots=True)
class AgentThought:
    """One model turn: Dify's ``agent_thought`` (``position`` counts from 1).

    ``thought`` is the text the model wrote in this turn; for a turn that called tools,
    ``tool``/``tool_input``/``observation``/``tool_labels`` describe the calls and their
    results; for the closing turn they are empty. ``usage`` is this turn's model call.
    """

    position: int
    thought: str
    tool: str
    tool_input: str
    observation: str
    tool_labels: dict[str, dict[str, str]]
    invocations: tuple[ToolInvocation, ...]
    usage: Usage | None


@dataclass(frozen=True, slots=True)
class AgentFinished:
    """The end: ``answer`` is every :class:`AgentAnswer` joined (what a client saw),
    ``usage`` the sum over all model calls, ``messages`` the whole exchange including the
    assistant tool calls and tool results, ``model_calls`` how many calls were made."""

    answer: str
    usage: Usage
    messages: list[ChatMessage] = field(default_factory=list)
    model_calls: int = 0


AgentEvent = AgentAnswer | AgentThought | AgentFinished


def _add_price(left: str, right: str) -> str:
    return format(Decimal(left) + Decimal(right), "f")


def add_usage(total: Usage | None, usage: Usage | None) -> Usage | None:
    """Tokens, prices and latency added up; unit prices and currency of the first call;
    ``estimated`` if any part was estimated."""
    if usage is None:
        return total
    if total is None:
        return usage.model_copy()
    return total.model_copy(
        update={
            "prompt_tokens": total.prompt_tokens + usage.prompt_tokens,
            "completion_tokens": total.completion_tokens + usage.completion_tokens,
            "total_tokens": total.total_tokens + usage.total_tokens,
            "prompt_price": _add_price(total.prompt_price, usage.prompt_price),
            "completion_price": _add_price(total.completion_price, usage.completion_price),
            "total_price": _add_price(total.total_price, usage.total_price),
            "latency": total.latency + usage.latency,
            "estimated": total.estimated or usage.estimated,
        }
    )
