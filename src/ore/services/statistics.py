"""Daily statistics of a chat or completion app (console spec §11, "Statistics").

Every function answers Dify's ``[{"date": "YYYY-MM-DD", ...}]``: days in the account's
timezone, ascending, days without data left out, debugger messages never counted.

Each is one query. Days are cut in Python, not SQL: SQLite has no named time zones and a
zone's offset changes with daylight saving, so the rows come back as UTC instants and
:func:`local_day` puts each in its day. The rows are narrow (a timestamp and a number or
two), which keeps this cheap at the sizes one app's logs reach.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import ColumnElement, Select, and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from ore.core.errors import InvalidParam
from ore.models import App, Conversation, Message, MessageFeedback

DEBUGGER = "debugger"
_PRICE_PLACES = Decimal("0.0000001")
_RANGE_FORMAT = "%Y-%m-%d %H:%M"


@dataclass(frozen=True, slots=True)
class TimeRange:
    """A ``start``/``end`` filter as UTC instants (either may be open), and the zone days
    are cut in."""

    zone: tzinfo
    start: datetime | None = None
    end: datetime | None = None

    def clauses(self, column: Any) -> list[ColumnElement[bool]]:
        """``start <= column < end`` (matches Dify: the end minute is excluded)."""
        found: list[ColumnElement[bool]] = []
        if self.start is not None:
            found.append(column >= self.start)
        if self.end is not None:
            found.append(column < self.end)
        return found


def account_zone(name: str | None) -> tzinfo:
    """The account's time zone; UTC when it names none this machine knows."""
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def time_range(start: str | None, end: str | None, timezone: str | None) -> TimeRange:
    """Parse ``YYYY-MM-DD HH:MM`` bounds, read in the account's ``timezone``; 400 when a
    bound is malformed or the range is backwards."""
    zone = account_zone(timezone)
    bounds = TimeRange(zone, _instant(start, zone, "start"), _instant(end, zone, "end"))
    if bounds.start is not None and bounds.end is not None and bounds.start > bounds.end:
        raise InvalidParam("start must be earlier than or equal to end.")
    return bounds


def _instant(value: str | None, zone: tzinfo, name: str) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.strptime(value, _RANGE_FORMAT).replace(tzinfo=zone).astimezone(UTC)
    except (ValueError, OverflowError) as error:  # overflow: year 1 or 9999 shifted past
        raise InvalidParam(f"{name} must be a time like 2024-01-31 23:59.") from error


def local_day(instant: datetime, zone: tzinfo) -> str:
    return instant.astimezone(zone).date().isoformat()


def not_debugger(column: Any) -> ColumnElement[bool]:
    """Rows that a debugger run did not make (a missing ``invoke_from`` counts as real)."""
    return or_(column.is_(None), column != DEBUGGER)


def _messages(app: App, bounds: TimeRange, *columns: Any) -> Select[Any]:
    return select(Message.created_at, *columns).where(
        Message.app_id == app.id,
        Message.tenant_id == app.tenant_id,
        not_debugger(Message.invoke_from),
        *bounds.clauses(Message.created_at),
    )


def _by_day(
    rows: Iterable[Any], zone: tzinfo, summarise: Callable[[list[Any]], dict[str, Any]]
) -> list[dict[str, Any]]:
    """Group rows (first column: a UTC instant) by local day and summarise each day."""
    days: dict[str, list[Any]] = defaultdict(list)
    for row in rows:
        days[local_day(row[0], zone)].append(row)
    return [{"date": day, **summarise(days[day])} for day in sorted(days)]


async def daily_messages(
    session: AsyncSession, app: App, bounds: TimeRange
) -> list[dict[str, Any]]:
    rows = await session.execute(_messages(app, bounds))
    return _by_day(rows, bounds.zone, lambda day: {"message_count": len(day)})


async def daily_conversations(
    session: AsyncSession, app: App, bounds: TimeRange
) -> list[dict[str, Any]]:
    """Distinct conversations with at least one message that day."""
    rows = await session.execute(_messages(app, bounds, Message.conversation_id))
    return _by_day(
        rows, bounds.zone, lambda day: {"conversation_count": len({row[1] for row in day})}
    )


async def daily_end_users(
    session: AsyncSession, app: App, bounds: TimeRange
) -> list[dict[str, Any]]:
    """Distinct end users who sent a message that day (console messages have none)."""
    rows = await session.execute(_messages(app, bounds, Message.from_end_user_id))

    def summarise(day: list[Any]) -> dict[str, Any]:
        return {"terminal_count": len({row[1] for row in day if row[1] is not None})}

    return _by_day(rows, bounds.zone, summarise)


async def token_costs(session: AsyncSession, app: App, bounds: TimeRange) -> list[dict[str, Any]]:
    """Tokens and price per day; the price is a decimal string, as Dify serialises it."""
    rows = await session.execute(
        _messages(app, bounds, Message.message_tokens + Message.answer_tokens, Message.total_price)
    )

    def summarise(day: list[Any]) -> dict[str, Any]:
        price = sum((Decimal(row[2] or 0) for row in day), Decimal(0))
        return {
            "token_count": sum(int(row[1] or 0) for row in day),
            "total_price": str(price.quantize(_PRICE_PLACES)),
            "currency": "USD",
        }

    return _by_day(rows, bounds.zone, summarise)


async def average_session_interactions(
    session: AsyncSession, app: App, bounds: TimeRange
) -> list[dict[str, Any]]:
    """Mean messages per conversation, by the day each conversation started."""
    query = (
        select(Conversation.created_at, func.count(Message.id))
        .join(Message, Message.conversation_id == Conversation.id)
        .where(
            Conversation.app_id == app.id,
            Conversation.tenant_id == app.tenant_id,
            not_debugger(Message.invoke_from),
            *bounds.clauses(Conversation.created_at),
        )
        .group_by(Conversation.id, Conversation.created_at)
    )
    rows = await session.execute(query)

    def summarise(day: list[Any]) -> dict[str, Any]:
        return {"interactions": round(sum(row[1] for row in day) / len(day), 2)}

    return _by_day(rows, bounds.zone, summarise)


async def user_satisfaction_rate(
    session: AsyncSession, app: App, bounds: TimeRange
) -> list[dict[str, Any]]:
    """Likes per 1000 messages (matches Dify: user and admin likes both count)."""
    likes = and_(MessageFeedback.message_id == Message.id, MessageFeedback.rating == "like")
    query = _messages(app, bounds, Message.id, MessageFeedback.id).outerjoin(MessageFeedback, likes)
    rows = await session.execute(query)

    def summarise(day: list[Any]) -> dict[str, Any]:
        messages = len({row[1] for row in day})
        liked = sum(1 for row in day if row[2] is not None)
        return {"rate": round(liked * 1000 / messages, 2)}

    return _by_day(rows, bounds.zone, summarise)


async def average_response_time(
    session: AsyncSession, app: App, bounds: TimeRange
) -> list[dict[str, Any]]:
    """Mean model latency in milliseconds."""
    rows = await session.execute(_messages(app, bounds, Message.provider_response_latency))

    def summarise(day: list[Any]) -> dict[str, Any]:
        mean = sum(float(row[1] or 0) for row in day) / len(day)
        return {"latency": round(mean * 1000, 4)}

    return _by_day(rows, bounds.zone, summarise)


async def tokens_per_second(
    session: AsyncSession, app: App, bounds: TimeRange
) -> list[dict[str, Any]]:
    """Answer tokens over model time for the day (0 when no time was recorded)."""
    rows = await session.execute(
        _messages(app, bounds, Message.answer_tokens, Message.provider_response_latency)
    )

    def summarise(day: list[Any]) -> dict[str, Any]:
        seconds = sum(float(row[2] or 0) for row in day)
        tokens = sum(int(row[1] or 0) for row in day)
        return {"tps": round(tokens / seconds, 4) if seconds > 0 else 0}

    return _by_day(rows, bounds.zone, summarise)
