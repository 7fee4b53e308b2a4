"""POST /v1/messages/{id}/feedbacks (like, dislike, change, clear, Dify's 400 for clearing
nothing) and GET /v1/app/feedbacks (ISO timestamps, pages, only this app's)."""

from __future__ import annotations

import uuid
from datetime import datetime

import httpx
from sqlalchemy import select

from ore.config import Settings
from ore.models import MessageFeedback
from tests.controllers.service_api.conftest import local_workspace, make_service_app
from tests.controllers.service_api.test_conversations import add_conversation
from tests.factories import db_session

FEEDBACK_FIELDS = {
    "id",
    "app_id",
    "conversation_id",
    "message_id",
    "rating",
    "content",
    "from_source",
    "from_end_user_id",
    "from_account_id",
    "created_at",
    "updated_at",
}


async def test_like_change_and_clear(client: httpx.AsyncClient, settings: Settings) -> None:
    app = await make_service_app(client, await local_workspace(settings))
    thread = await add_conversation(settings, app, "alice")
    url = f"/v1/messages/{thread.message_ids[0]}/feedbacks"

    async def feedback() -> dict[str, object] | None:
        listed = await client.get(
            "/v1/messages",
            params={"conversation_id": thread.id, "user": "alice"},
            headers=app.headers,
        )
        value: dict[str, object] | None = listed.json()["data"][0]["feedback"]
        return value

    liked = await client.post(
        url, json={"rating": "like", "user": "alice", "content": "great"}, headers=app.headers
    )
    assert liked.status_code == 200, liked.text
    assert liked.json() == {"result": "success"}
    assert await feedback() == {"rating": "like"}

    changed = await client.post(
        url, json={"rating": "dislike", "user": "alice", "content": "wrong"}, headers=app.headers
    )
    assert changed.status_code == 200
    assert await feedback() == {"rating": "dislike"}
    async with db_session(settings) as session:
        (row,) = (await session.scalars(select(MessageFeedback))).all()
    assert (row.rating, row.content, row.from_source) == ("dislike", "wrong", "user")
    assert row.from_end_user_id == thread.end_user_id

    cleared = await client.post(url, json={"rating": None, "user": "alice"}, headers=app.headers)
    assert cleared.status_code == 200
    assert await feedback() is None
    again = await client.post(url, json={"rating": None, "user": "alice"}, headers=app.headers)
    assert again.status_code == 400
    assert again.json() == {
        "code": "invalid_param",
        "message": "rating cannot be None when feedback not exists",
        "status": 400,
    }


async def test_feedback_isolation_and_errors(client: httpx.AsyncClient, settings: Settings) -> None:
    member = await local_workspace(settings)
    app = await make_service_app(client, member)
    other_app = await make_service_app(client, member, name="Other")
    thread = await add_conversation(settings, app, "alice")
    url = f"/v1/messages/{thread.message_ids[0]}/feedbacks"

    for target, user, key in (
        (url, "bob", app),
        (url, "alice", other_app),
        (f"/v1/messages/{uuid.uuid4()}/feedbacks", "alice", app),
        ("/v1/messages/nope/feedbacks", "alice", app),
    ):
        response = await client.post(
            target, json={"rating": "like", "user": user}, headers=key.headers
        )
        assert response.status_code == 404
        assert response.json() == {
            "code": "not_found",
            "message": "Message Not Exists.",
            "status": 404,
        }
    no_user = await client.post(url, json={"rating": "like"}, headers=app.headers)
    assert no_user.status_code == 400
    assert no_user.json()["message"] == "Arg user must be provided."
    bad_rating = await client.post(
        url, json={"rating": "meh", "user": "alice"}, headers=app.headers
    )
    assert bad_rating.status_code == 400 and bad_rating.json()["code"] == "invalid_param"
    not_json = await client.post(
        url, content=b"rating=like", headers={**app.headers, "Content-Type": "application/json"}
    )
    assert not_json.status_code == 400 and not_json.json()["code"] == "bad_request"
    async with db_session(settings) as session:
        assert (await session.scalars(select(MessageFeedback))).all() == []


async def test_app_feedback_list(client: httpx.AsyncClient, settings: Settings) -> None:
    member = await local_workspace(settings)
    app = await make_service_app(client, member)
    other_app = await make_service_app(client, member, name="Other")
    threads = [await add_conversation(settings, app, f"user-{i}") for i in range(3)]
    foreign = await add_conversation(settings, other_app, "alice")
    for index, (thread, rating) in enumerate(
        zip(threads, ("like", "dislike", "like"), strict=True)
    ):
        response = await client.post(
            f"/v1/messages/{thread.message_ids[0]}/feedbacks",
            json={"rating": rating, "user": f"user-{index}"},
            headers=app.headers,
        )
        assert response.status_code == 200, response.text
    await client.post(
        f"/v1/messages/{foreign.message_ids[0]}/feedbacks",
        json={"rating": "like", "user": "alice"},
        headers=other_app.headers,
    )

    listed = await client.get("/v1/app/feedbacks", headers=app.headers)
    assert listed.status_code == 200, listed.text
    data = listed.json()["data"]
    assert set(listed.json()) == {"data"}
    assert len(data) == 3
    assert {item["message_id"] for item in data} == {t.message_ids[0] for t in threads}
    item = data[0]
    assert set(item) == FEEDBACK_FIELDS
    assert item["app_id"] == app.app_id and item["from_source"] == "user"
    assert item["from_account_id"] is None and item["from_end_user_id"]
    for field in ("created_at", "updated_at"):
        assert isinstance(item[field], str)
        datetime.fromisoformat(item[field])

    first = await client.get("/v1/app/feedbacks", params={"limit": 2}, headers=app.headers)
    second = await client.get(
        "/v1/app/feedbacks", params={"limit": 2, "page": 2}, headers=app.headers
    )
    pages = [i["id"] for i in first.json()["data"]] + [i["id"] for i in second.json()["data"]]
    assert len(pages) == 3 and set(pages) == {i["id"] for i in data}
    for params in ({"limit": 0}, {"limit": 102}, {"page": 0}):
        response = await client.get("/v1/app/feedbacks", params=params, headers=app.headers)
        assert response.status_code == 400, params
        assert response.json()["code"] == "invalid_param"
