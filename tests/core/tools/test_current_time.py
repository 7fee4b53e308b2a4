"""``time``/``current_time``: the instant in the zone asked for; a bad zone is an error
result, not an exception."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ore.core.tools import CurrentTimeTool

INSTANT = datetime(2026, 1, 15, 12, 30, 5, tzinfo=UTC)


def fixed_tool() -> CurrentTimeTool:
    return CurrentTimeTool(clock=lambda: INSTANT)


@pytest.mark.parametrize(
    ("zone", "expected"),
    [
        ("UTC", "2026-01-15 12:30:05 UTC"),
        ("Asia/Tokyo", "2026-01-15 21:30:05 JST"),
        ("America/New_York", "2026-01-15 07:30:05 EST"),
        ("Asia/Kolkata", "2026-01-15 18:00:05 IST"),
    ],
)
async def test_time_in_a_zone_with_the_default_format(zone: str, expected: str) -> None:
    result = await fixed_tool().invoke({"timezone": zone})
    assert not result.is_error
    assert result.text == expected


async def test_format_and_defaults() -> None:
    tool = fixed_tool()
    assert (await tool.invoke({})).text == "2026-01-15 12:30:05 UTC"
    assert (await tool.invoke({"timezone": "", "format": ""})).text == "2026-01-15 12:30:05 UTC"
    shown = await tool.invoke({"timezone": "Europe/Paris", "format": "%H:%M %z on %A"})
    assert shown.text == "13:30 +0100 on Thursday"


async def test_the_real_clock_is_now() -> None:
    result = await CurrentTimeTool().invoke({"format": "%Y-%m-%dT%H:%M:%S%z"})
    shown = datetime.strptime(result.text, "%Y-%m-%dT%H:%M:%S%z")
    assert abs(datetime.now(UTC) - shown) < timedelta(seconds=5)


@pytest.mark.parametrize("zone", ["Mars/Olympus_Mons", "../../etc/passwd", "Not a zone"])
async def test_bad_timezone_is_an_error_result(zone: str) -> None:
    result = await fixed_tool().invoke({"timezone": zone})
    assert result.is_error
    assert result.text == f"Invalid timezone: {zone}"


async def test_wrong_argument_type_is_an_error_result() -> None:
    result = await fixed_tool().invoke({"timezone": 9})
    assert result.is_error
    assert "timezone must be a string" in result.text


def test_identity_and_definition_use_difys_ids() -> None:
    tool = fixed_tool()
    assert tool.identity.key == ("time", "current_time")
    definition = tool.definition()
    assert definition.name == "current_time"
    assert set(definition.parameters["properties"]) == {"timezone", "format"}
