"""What a tool is, what it returns, and the registry that finds one by Dify's ids.

A tool is keyed by ``(provider, name)`` exactly as Dify keys its built-in tools
(``time``/``current_time``), so an agent app's tool list and a workflow tool node imported
from Dify find the same tool. :meth:`Tool.invoke` never raises for a failure of the tool
itself: a bad argument, an unreachable URL or a bug becomes a :class:`ToolResult` marked as
an error, whose text the model reads and can react to (an agent loop goes on).
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from ore.core.errors import NotFound, OreError
from ore.core.model_runtime.entities import ToolDefinition

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ToolIdentity:
    """Dify's ids of a tool and the labels a console shows (``en_US``, ``zh_Hans``)."""

    provider: str
    name: str
    label: Mapping[str, str]
    provider_label: Mapping[str, str] = field(default_factory=dict)

    @property
    def key(self) -> tuple[str, str]:
        return (self.provider, self.name)


@dataclass(frozen=True)
class ToolResult:
    """The text the model reads back; ``is_error`` says the tool could not do its job."""

    text: str
    is_error: bool = False

    @classmethod
    def failure(cls, message: str) -> ToolResult:
        return cls(text=message, is_error=True)


class ToolInputError(Exception):
    """An argument the model sent is missing, of the wrong type or out of range."""


class ToolNotFound(NotFound):
    code = "tool_not_found"
    default_message = "The tool does not exist."


class Tool(ABC):
    """A built-in tool: identity, a description and JSON-schema parameters for the model,
    and :meth:`run`. Callers use :meth:`invoke`, which turns every failure into a result."""

    identity: ToolIdentity
    description: str
    parameters: dict[str, Any]

    def definition(self) -> ToolDefinition:
        """The function the model sees; its name is Dify's tool name (``current_time``)."""
        return ToolDefinition(
            name=self.identity.name, description=self.description, parameters=self.parameters
        )

    @abstractmethod
    async def run(self, arguments: Mapping[str, Any]) -> ToolResult:
        """Do the work; may raise :class:`ToolInputError` or an :class:`OreError`."""

    async def invoke(self, arguments: Mapping[str, Any]) -> ToolResult:
        """:meth:`run`, with any failure returned as an error result (never raised), so
        one broken tool call cannot end a conversation."""
        try:
            return await self.run(arguments)
        except ToolInputError as error:
            return ToolResult.failure(f"Invalid arguments for {self.identity.name}: {error}")
        except OreError as error:
            return ToolResult.failure(error.message)
        except Exception as error:  # a bug in a tool must not end the conversation
            logger.exception("tool %s/%s failed", *self.identity.key)
            return ToolResult.failure(
                f"{self.identity.name} failed: {type(error).__name__}: {error}"
            )


def string_argument(
    arguments: Mapping[str, Any], name: str, default: str | None = None, *, max_length: int = 2000
) -> str:
    """A string argument: ``default`` when absent or empty (None means required)."""
    value = arguments.get(name)
    if value is None or value == "":
        if default is None:
            raise ToolInputError(f"{name} is required.")
        return default
    if not isinstance(value, str):
        raise ToolInputError(f"{name} must be a string.")
    if len(value) > max_length:
        raise ToolInputError(f"{name} is longer than {max_length} characters.")
    return value


class ToolRegistry:
    """Tools by ``(provider, name)``; registration order is listing order."""

    def __init__(self, tools: Iterable[Tool] = ()) -> None:
        self._tools: dict[tuple[str, str], Tool] = {}
        for tool in tools:
            self.register(tool)

    def register(self, tool: Tool) -> None:
        if tool.identity.key in self._tools:
            raise ValueError(f"tool {tool.identity.provider}/{tool.identity.name} is registered")
        self._tools[tool.identity.key] = tool

    def find(self, provider: str, name: str) -> Tool | None:
        return self._tools.get((provider, name))

    def get(self, provider: str, name: str) -> Tool:
        """The tool, or :class:`ToolNotFound` (404) naming the ids asked for."""
        tool = self.find(provider, name)
        if tool is None:
            raise ToolNotFound(f"Tool {provider}/{name} does not exist.")
        return tool

    def providers(self) -> list[str]:
        return list(dict.fromkeys(provider for provider, _ in self._tools))

    def __iter__(self) -> Iterator[Tool]:
        return iter(self._tools.values())

    def __len__(self) -> int:
        return len(self._tools)
