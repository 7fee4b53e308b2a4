"""Console statistics of an app (console spec §11): each daily figure on known rows, days
cut in the account's timezone, start/end bounds, debugger messages left out, the routes
that belong to one kind of app, bad input and other workspaces."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx

from ore.config import Settings
from tests.controllers.console.test_app_logs import (
    APPS,
    conversation,
    end_user,
    feedback,
    new_app,
    set_timezone,
)
from tests.factories import Member, create_member

NAMES = (
    "daily-messages",
    "daily-conversations",
    "daily-end-users",
    "token-costs",
    "average-session-interactions",
    "user-satisfaction-rate",
    "average-response-time",
    "tokens-per-second",
)


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 1, day, hour, minute, tzinfo=UTC)


def turn(when: datetime, tokens: tuple[int, int], price: str, latency: float) -> dict[str, Any]:
    return {
        "query": "q",
        "answer": "a",
        "at": when,
        "message_tokens": tokens[0],
        "answer_tokens": tokens[1],
        "total_price": Decimal(price),
        "provider_response_latency": latency,
    }


async def chat_traffic(client: httpx.AsyncClient, settings: Settings) -> tuple[Member, str]:
    """A chat app in a New York account (UTC-5 in January).

    Local 14 Jan: conversation A starts, message m1. Local 15 Jan: A's m2 (liked by the
    user and by an admin), B's m3 and m4, D's m6; a debugger conversation that never counts.
    """
    owner = await create_member(settings)
    await set_timezone(settings, owner.account.id, "America/New_York")
    app_id = await new_app(client, owner)
    alice = await end_user(settings, app_id, "alice")
    bob = await end_user(settings, app_id, "bob")
    _, (_, m2) = await conversation(
        settings,
        app_id,
        [
            turn(at(15, 3), (10, 5), "0.0000150", 0.5),
            turn(at(15, 6), (20, 10), "0.0000300", 1.0),
        ],
        created_at=at(15, 3),
        end_user_id=alice,
    )
    await feedback(settings, m2, "like")
    await feedback(settings, m2, "like", "admin", owner.account.id)
    await conversation(
        settings,
        app_id,
        [
            turn(at(15, 15), (1, 1), "0", 0.0),
            turn(at(15, 15, 5), (3, 2), "0.0000050", 0.25),
        ],
        created_at=at(15, 15),
        end_user_id=bob,
    )
    await conversation(
        settings,
        app_id,
        [turn(at(15, 20), (0, 0), "0", 0.25)],
        created_at=at(15, 20),
        end_user_id=alice,
    )
    debug_turn = {**turn(at(15, 16), (100, 100), "1", 9.0), "invoke_from": "debugger"}
    await conversation(
        settings, app_id, [debug_turn], created_at=at(15, 16), account_id=owner.account.id
    )
    return owner, app_id


async def statistic(
    client: httpx.AsyncClient, member: Member, app_id: str, name: str, **params: str
) -> Any:
    response = await client.get(
        f"{APPS}/{app_id}/statistics/{name}", params=params, headers=member.headers
    )
    assert response.status_code == 200, (name, response.text)
    assert set(response.json()) == {"data"}
    return response.json()["data"]


async def test_chat_app_statistics_by_local_day(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    owner, app_id = await chat_traffic(client, settings)

    async def get(name: str) -> Any:
        return await statistic(client, owner, app_id, name)

    assert await get("daily-messages") == [
        {"date": "2026-01-14", "message_count": 1},
        {"date": "2026-01-15", "message_count": 4},
    ]
    assert await get("daily-conversations") == [
        {"date": "2026-01-14", "conversation_count": 1},
        {"date": "2026-01-15", "conversation_count": 3},
    ]
    assert await get("daily-end-users") == [
        {"date": "2026-01-14", "terminal_count": 1},
        {"date": "2026-01-15", "terminal_count": 2},
    ]
    assert await get("token-costs") == [
        {"date": "2026-01-14", "token_count": 15, "total_price": "0.0000150", "currency": "USD"},
        {"date": "2026-01-15", "token_count": 37, "total_price": "0.0000350", "currency": "USD"},
    ]
    # By the day each conversation started: A (2 messages); B (2) and D (1).
    assert await get("average-session-interactions") == [
        {"date": "2026-01-14", "interactions": 2.0},
        {"date": "2026-01-15", "interactions": 1.5},
    ]
    # Two likes (user and admin) over four messages: 500 per thousand.
    assert await get("user-satisfaction-rate") == [
        {"date": "2026-01-14", "rate": 0.0},
        {"date": "2026-01-15", "rate": 500.0},
    ]
    # 13 answer tokens over 1.5 s of model time.
    assert await get("tokens-per-second") == [
        {"date": "2026-01-14", "tps": 10.0},
        {"date": "2026-01-15", "tps": 8.6667},
    ]


async def test_days_follow_the_account_timezone_and_bounds(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    owner, app_id = await chat_traffic(client, settings)
    # 00:00 in New York is 05:00 UTC: m1 (03:00 UTC) falls before it.
    assert await statistic(client, owner, app_id, "daily-messages", start="2026-01-15 00:00") == [
        {"date": "2026-01-15", "message_count": 4}
    ]
    # The end minute is excluded: 10:00 New York is 15:00 UTC, when m3 was sent.
    assert await statistic(
        client, owner, app_id, "daily-messages", start="2026-01-15 00:00", end="2026-01-15 10:00"
    ) == [{"date": "2026-01-15", "message_count": 1}]
    assert await statistic(client, owner, app_id, "daily-messages", end="2026-01-01 00:00") == []
    await set_timezone(settings, owner.account.id, "UTC")
    assert await statistic(client, owner, app_id, "daily-messages") == [
        {"date": "2026-01-15", "message_count": 5}
    ]


async def test_completion_app_response_time_and_mode_limits(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    owner = await create_member(settings)
    completion = await new_app(client, owner, mode="completion")
    await conversation(
        settings,
        completion,
        [turn(at(20, 9), (5, 5), "0", 0.5)],
        created_at=at(20, 9),
        mode="completion",
    )
    await conversation(
        settings,
        completion,
        [turn(at(20, 10), (5, 5), "0", 1.0)],
        created_at=at(20, 10),
        mode="completion",
    )
    assert await statistic(client, owner, completion, "average-response-time") == [
        {"date": "2026-01-20", "latency": 750.0}
    ]
    assert await statistic(client, owner, completion, "daily-messages") == [
        {"date": "2026-01-20", "message_count": 2}
    ]
    chat = await new_app(client, owner)
    for app_id, name in (
        (chat, "average-response-time"),
        (completion, "average-session-interactions"),
    ):
        response = await client.get(f"{APPS}/{app_id}/statistics/{name}", headers=owner.headers)
        assert response.status_code == 404 and response.json()["code"] == "app_not_found"
    # An app without traffic has no days.
    for name in NAMES:
        if name != "average-response-time":
            assert await statistic(client, owner, chat, name) == []


async def test_bad_bounds_and_other_workspaces(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    owner, app_id = await chat_traffic(client, settings)
    stranger = await create_member(settings)
    for params in (
        {"start": "2026-01-15"},
        {"end": "15/01/2026 10:00"},
        {"start": "2026-01-16 00:00", "end": "2026-01-15 00:00"},
        {"end": "9999-12-31 23:59"},  # past the last representable instant in UTC
    ):
        response = await client.get(
            f"{APPS}/{app_id}/statistics/daily-messages", params=params, headers=owner.headers
        )
        assert response.status_code == 400, params
        assert response.json()["code"] == "invalid_param"
    for name in NAMES:
        response = await client.get(f"{APPS}/{app_id}/statistics/{name}", headers=stranger.headers)
        assert response.status_code == 404, name
        assert response.json()["code"] == "app_not_found"
    no_login = await client.get(f"{APPS}/{app_id}/statistics/daily-messages")
    assert no_login.status_code == 401
