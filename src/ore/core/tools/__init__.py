"""Tools a model can call: Dify's built-in ids, a registry, results that never raise.

:func:`builtin_tools` builds the registry of ore's built-in tools; :class:`Tool` is what an
agent loop (:mod:`ore.core.agent`) or a workflow tool node invokes.
"""

from ore.core.tools.base import (
    Tool,
    ToolIdentity,
    ToolInputError,
    ToolNotFound,
    ToolRegistry,
    ToolResult,
)
from ore.core.tools.builtin import builtin_tools
from ore.core.tools.calculator import CalculatorTool, evaluate
from ore.core.tools.current_time import CurrentTimeTool
from ore.core.tools.webscraper import HttpGetter, HttpPage, WebScraperTool

__all__ = [
    "CalculatorTool",
    "CurrentTimeTool",
    "HttpGetter",
    "HttpPage",
    "Tool",
    "ToolIdentity",
    "ToolInputError",
    "ToolNotFound",
    "ToolRegistry",
    "ToolResult",
    "WebScraperTool",
    "builtin_tools",
    "evaluate",
]
