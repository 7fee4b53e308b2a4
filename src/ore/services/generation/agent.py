"""The producer of agent-chat apps: the function-calling loop over the app's tools.

The app's ``agent_mode`` (Dify's shape: ``{enabled, strategy, tools: [{provider_type,
provider_id, tool_name, tool_parameters, enabled}], max_iteration}``) names the tools; the
enabled built-in ones found in ore's registry are offered to the model, others are left
out with a warning (matches Dify, whose agent runner skips a tool it cannot load). Values
the app fixes in ``tool_parameters`` are not asked of the model: they are hidden from the
tool's schema and passed to every call.

:func:`agent_events` maps :mod:`ore.core.agent` events to generation events: answer text
at once (``agent_message``), one ``agent_thought`` per model turn, and after each turn the
usage summed so far, so a stopped or failed run still stores what it spent.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncGenerator, Mapping
from contextlib import aclosing
from typing import TYPE_CHECKING, Any, cast

from ore.core.agent import AgentAnswer, AgentEvent, AgentThought, add_usage, run_agent
from ore.core.model_runtime import Usage
from ore.core.tools import Tool, ToolRegistry, ToolResult, builtin_tools
from ore.models.base import utcnow
from ore.services.generation.events import (
    AnswerDelta,
    GenerationEvent,
    ThoughtReport,
    UsageReport,
)

if TYPE_CHECKING:
    from ore.services.generation.run import ModelCall

logger = logging.getLogger(__name__)

# matches Dify: max_iteration defaults to 10 and counts at most 99 tool-calling turns.
DEFAULT_MAX_ITERATION = 10
MAX_ITERATION_CAP = 99
BUILTIN = "builtin"


class ConfiguredTool(Tool):
    """A tool with the arguments its app fixed: they leave the schema the model sees and
    are merged into every call (the app's value wins)."""

    def __init__(self, tool: Tool, fixed: Mapping[str, Any]) -> None:
        self._tool = tool
        self._fixed = dict(fixed)
        self.identity = tool.identity
        self.description = tool.description
        properties = {
            name: schema
            for name, schema in (tool.parameters.get("properties") or {}).items()
            if name not in self._fixed
        }
        required = [name for name in tool.parameters.get("required") or [] if name in properties]
        self.parameters = {**tool.parameters, "properties": properties, "required": required}

    async def run(self, arguments: Mapping[str, Any]) -> ToolResult:
        return await self._tool.run({**arguments, **self._fixed})


def _fixed_parameters(entry: Mapping[str, Any]) -> dict[str, Any]:
    """The app's non-empty ``tool_parameters`` (Dify stores an unset one as ``""``)."""
    given = entry.get("tool_parameters")
    if not isinstance(given, Mapping):
        return {}
    return {name: value for name, value in given.items() if value not in (None, "")}


def app_tools(agent_mode: Mapping[str, Any], registry: ToolRegistry) -> list[Tool]:
    """The enabled built-in tools of ``agent_mode`` that ``registry`` has, in the app's
    order, each function name once; anything else is skipped with a warning."""
    tools: dict[str, Tool] = {}
    for entry in agent_mode.get("tools") or []:
        if not isinstance(entry, Mapping) or not entry.get("enabled"):
            continue
        provider, name = entry.get("provider_id"), entry.get("tool_name")
        tool = None
        if entry.get("provider_type") == BUILTIN and isinstance(provider, str):
            tool = registry.find(provider, name) if isinstance(name, str) else None
        if tool is None:
            logger.warning("agent tool %s/%s is not available; skipped", provider, name)
            continue
        if tool.identity.name in tools:
            continue
        fixed = _fixed_parameters(entry)
        tools[tool.identity.name] = ConfiguredTool(tool, fixed) if fixed else tool
    return list(tools.values())


def max_iterations(agent_mode: Mapping[str, Any]) -> int:
    """``max_iteration`` of the app: a whole number up to 99, 10 when unset or unusable."""
    value = agent_mode.get("max_iteration")
    if isinstance(value, bool) or not isinstance(value, int):
        return DEFAULT_MAX_ITERATION
    return max(0, min(value, MAX_ITERATION_CAP))


def _report(thought: AgentThought) -> ThoughtReport:
    return ThoughtReport(
        id=str(uuid.uuid4()),
        position=thought.position,
        thought=thought.thought,
        tool=thought.tool,
        tool_labels=dict(thought.tool_labels),
        tool_input=thought.tool_input,
        observation=thought.observation,
        created_at=int(utcnow().timestamp()),
    )


async def agent_events(call: ModelCall) -> AsyncGenerator[GenerationEvent, None]:
    """Run the agent loop of ``call``; the caller stops it by closing this iterator."""
    agent_mode = call.features.get("agent_mode") or {}
    tools = app_tools(agent_mode, builtin_tools(http_client=call.user_http))
    request = call.request
    # run_agent is an async generator; closing it closes the model's stream at once.
    stream = cast(
        AsyncGenerator[AgentEvent, None],
        run_agent(
            call.bound,
            request.messages,
            tools,
            max_iterations=max_iterations(agent_mode),
            model_name=request.model,
            parameters=request.parameters,
            user=request.user,
        ),
    )
    spent: Usage | None = None
    async with aclosing(stream):
        async for event in stream:
            if isinstance(event, AgentAnswer):
                yield AnswerDelta(event.text)
            elif isinstance(event, AgentThought):
                yield _report(event)
                spent = add_usage(spent, event.usage)
                if spent is not None:
                    yield UsageReport(spent)
