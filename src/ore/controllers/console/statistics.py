"""Daily statistics of chat and completion apps (console spec §11, "Statistics").

``GET /apps/{id}/statistics/<name>?start=&end=`` answers ``{"data": [{date, ...}]}``; the
bounds are ``YYYY-MM-DD HH:MM`` in the caller's timezone. Two statistics belong to one
kind of app, and another app answers Dify's 404 ``app_not_found``: average session
interactions (chat modes) and average response time (completion).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Query
from sqlalchemy.ext.asyncio import AsyncSession

from ore.controllers.deps import CurrentWorkspace, SessionDep
from ore.models import App, AppMode
from ore.services import apps, statistics
from ore.services.statistics import TimeRange

router = APIRouter(tags=["app statistics"])

STATISTICS = "/apps/{app_id:uuid}/statistics"
CHAT_MODES = frozenset({AppMode.CHAT, AppMode.AGENT_CHAT, AppMode.ADVANCED_CHAT})
COMPLETION_MODES = frozenset({AppMode.COMPLETION})
RangeBound = Annotated[str | None, Query(max_length=32)]
Statistic = Callable[[AsyncSession, App, TimeRange], Awaitable[list[dict[str, Any]]]]


async def _answer(
    statistic: Statistic,
    session: AsyncSession,
    scope: CurrentWorkspace,
    app_id: uuid.UUID,
    start: str | None,
    end: str | None,
    modes: frozenset[AppMode] | None = None,
) -> dict[str, Any]:
    app = await apps.get_app(session, scope.tenant.id, app_id, modes)
    bounds = statistics.time_range(start, end, scope.account.timezone)
    return {"data": await statistic(session, app, bounds)}


@router.get(STATISTICS + "/daily-messages")
async def daily_messages(
    app_id: uuid.UUID,
    session: SessionDep,
    scope: CurrentWorkspace,
    start: RangeBound = None,
    end: RangeBound = None,
) -> dict[str, Any]:
    return await _answer(statistics.daily_messages, session, scope, app_id, start, end)


@router.get(STATISTICS + "/daily-conversations")
async def daily_conversations(
    app_id: uuid.UUID,
    session: SessionDep,
    scope: CurrentWorkspace,
    start: RangeBound = None,
    end: RangeBound = None,
) -> dict[str, Any]:
    return await _answer(statistics.daily_conversations, session, scope, app_id, start, end)


@router.get(STATISTICS + "/daily-end-users")
async def daily_end_users(
    app_id: uuid.UUID,
    session: SessionDep,
    scope: CurrentWorkspace,
    start: RangeBound = None,
    end: RangeBound = None,
) -> dict[str, Any]:
    return await _answer(statistics.daily_end_users, session, scope, app_id, start, end)


@router.get(STATISTICS + "/token-costs")
async def token_costs(
    app_id: uuid.UUID,
    session: SessionDep,
    scope: CurrentWorkspace,
    start: RangeBound = None,
    end: RangeBound = None,
) -> dict[str, Any]:
    return await _answer(statistics.token_costs, session, scope, app_id, start, end)


@router.get(STATISTICS + "/average-session-interactions")
async def average_session_interactions(
    app_id: uuid.UUID,
    session: SessionDep,
    scope: CurrentWorkspace,
    start: RangeBound = None,
    end: RangeBound = None,
) -> dict[str, Any]:
    return await _answer(
        statistics.average_session_interactions, session, scope, app_id, start, end, CHAT_MODES
    )


@router.get(STATISTICS + "/user-satisfaction-rate")
async def user_satisfaction_rate(
    app_id: uuid.UUID,
    session: SessionDep,
    scope: CurrentWorkspace,
    start: RangeBound = None,
    end: RangeBound = None,
) -> dict[str, Any]:
    return await _answer(statistics.user_satisfaction_rate, session, scope, app_id, start, end)


@router.get(STATISTICS + "/average-response-time")
async def average_response_time(
    app_id: uuid.UUID,
    session: SessionDep,
    scope: CurrentWorkspace,
    start: RangeBound = None,
    end: RangeBound = None,
) -> dict[str, Any]:
    return await _answer(
        statistics.average_response_time, session, scope, app_id, start, end, COMPLETION_MODES
    )


@router.get(STATISTICS + "/tokens-per-second")
async def tokens_per_second(
    app_id: uuid.UUID,
    session: SessionDep,
    scope: CurrentWorkspace,
    start: RangeBound = None,
    end: RangeBound = None,
) -> dict[str, Any]:
    return await _answer(statistics.tokens_per_second, session, scope, app_id, start, end)
