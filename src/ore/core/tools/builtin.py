"""ore's built-in tools, keyed by the provider and tool ids Dify gives them."""

from __future__ import annotations

from ore.core.tools.base import ToolRegistry
from ore.core.tools.calculator import CalculatorTool
from ore.core.tools.current_time import Clock, CurrentTimeTool, utc_now
from ore.core.tools.webscraper import DEFAULT_MAX_CHARS, HttpGetter, WebScraperTool


def builtin_tools(
    *, http_client: HttpGetter, clock: Clock = utc_now, max_page_chars: int = DEFAULT_MAX_CHARS
) -> ToolRegistry:
    """``time``/``current_time``, ``maths``/``eval_expression`` and
    ``webscraper``/``webscraper`` (HTTP GET through ``http_client``, which must be the
    SSRF-guarded client for user-supplied URLs)."""
    return ToolRegistry(
        [
            CurrentTimeTool(clock),
            CalculatorTool(),
            WebScraperTool(http_client, max_chars=max_page_chars),
        ]
    )
