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


def _route(statistic: Statistic, modes: frozenset[AppMode] | None) -> Callable[..., Any]:
    """The handler of one statistic: the app (of ``modes`` when given) in the caller's
    workspace, the bounds in the caller's timezone, the statistic's rows as ``data``."""

    async def handler(
        app_id: uuid.UUID,
        session: SessionDep,
        scope: CurrentWorkspace,
        start: RangeBound = None,
        end: RangeBound = None,
    ) -> dict[str, Any]:
        app = await apps.get_app(session, scope.tenant.id, app_id, modes)
        bounds = statistics.time_range(start, end, scope.account.timezone)
        return {"data": await statistic(session, app, bounds)}

    return handler


# Path name, statistic, and the app modes it belongs to (None: every chat and completion app).
ROUTES: list[tuple[str, Statistic, frozenset[AppMode] | None]] = [
    ("daily-messages", statistics.daily_messages, None),
    ("daily-conversations", statistics.daily_conversations, None),
    ("daily-end-users", statistics.daily_end_users, None),
    ("token-costs", statistics.token_costs, None),
    ("average-session-interactions", statistics.average_session_interactions, CHAT_MODES),
    ("user-satisfaction-rate", statistics.user_satisfaction_rate, None),
    ("average-response-time", statistics.average_response_time, COMPLETION_MODES),
    ("tokens-per-second", statistics.tokens_per_second, None),
]

for _name, _statistic, _modes in ROUTES:
    router.add_api_route(
        f"{STATISTICS}/{_name}",
        _route(_statistic, _modes),
        methods=["GET"],
        name=_name.replace("-", "_"),
    )
