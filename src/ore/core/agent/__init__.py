"""The function-calling agent of agent-chat apps: :func:`run_agent` over a bound model and
:mod:`ore.core.tools` tools, yielding :data:`AgentEvent` objects."""

from ore.core.agent.events import (
    AgentAnswer,
    AgentEvent,
    AgentFinished,
    AgentThought,
    ToolInvocation,
    add_usage,
)
from ore.core.agent.loop import ChatModel, run_agent

__all__ = [
    "AgentAnswer",
    "AgentEvent",
    "AgentFinished",
    "AgentThought",
    "ChatModel",
    "ToolInvocation",
    "add_usage",
    "run_agent",
]
