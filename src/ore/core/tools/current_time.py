"""Dify's ``time``/``current_time``: the current time in a time zone, formatted."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ore.core.tools.base import Tool, ToolIdentity, ToolResult, string_argument

Clock = Callable[[], datetime]

# Matches Dify's default when the format is left empty.
DEFAULT_FORMAT = "%Y-%m-%d %H:%M:%S %Z"

TIME_PROVIDER_LABEL = {"en_US": "CurrentTime", "zh_Hans": "时间"}


def utc_now() -> datetime:
    return datetime.now(UTC)


class CurrentTimeTool(Tool):
    """``clock`` returns an aware datetime (injected so tests can fix the instant)."""

    identity = ToolIdentity(
        provider="time",
        name="current_time",
        label={"en_US": "Current Time", "zh_Hans": "获取当前时间"},
        provider_label=TIME_PROVIDER_LABEL,
    )
    description = "Get the current date and time, in a time zone (default UTC)."
    parameters: dict[str, Any] = {  # noqa: RUF012 - read-only schema
        "type": "object",
        "properties": {
            "timezone": {
                "type": "string",
                "description": "IANA time zone name, such as UTC, Europe/Paris or Asia/Tokyo.",
            },
            "format": {
                "type": "string",
                "description": f"strftime format; default {DEFAULT_FORMAT!r}.",
            },
        },
    }

    def __init__(self, clock: Clock = utc_now) -> None:
        self._clock = clock

    async def run(self, arguments: Mapping[str, Any]) -> ToolResult:
        name = string_argument(arguments, "timezone", "UTC", max_length=64)
        fmt = string_argument(arguments, "format", DEFAULT_FORMAT, max_length=200)
        try:
            zone = ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            return ToolResult.failure(f"Invalid timezone: {name}")
        return ToolResult(self._clock().astimezone(zone).strftime(fmt))
