"""Console logs of an app: conversation lists with filters and pages, conversation and
message details, the message cursor, admin feedback and the annotation count (console spec
§11). Rows are arranged through the models, as the generation routes would store them."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
from sqlalchemy import select, update

from ore.config import Settings
from ore.models import (
    Account,
    App,
    Conversation,
    EndUser,
    Message,
    MessageAnnotation,
    MessageFeedback,
    TenantRole,
)
from tests.factories import Member, create_member, db_session

APPS = "/console/api/apps"
NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


@dataclass
class Seeded:
    """Ids of rows a test arranged."""

    app_id: str
    conversations: list[uuid.UUID] = field(default_factory=list)
    messages: list[uuid.UUID] = field(default_factory=list)


async def new_app(client: httpx.AsyncClient, member: Member, mode: str = "chat") -> str:
    created = await client.post(APPS, json={"name": "Logs", "mode": mode}, headers=member.headers)
    assert created.status_code == 201, created.text
    app_id: str = created.json()["id"]
    return app_id


async def set_timezone(settings: Settings, account_id: uuid.UUID, timezone: str) -> None:
    async with db_session(settings) as session:
        await session.execute(
            update(Account).where(Account.id == account_id).values(timezone=timezone)
        )


async def end_user(settings: Settings, app_id: str, session_id: str) -> uuid.UUID:
    async with db_session(settings) as session:
        app = await session.get(App, uuid.UUID(app_id))
        assert app is not None
        row = EndUser(
            tenant_id=app.tenant_id, app_id=app.id, type="service-api", session_id=session_id
        )
        session.add(row)
        await session.flush()
        return row.id


async def conversation(
    settings: Settings,
    app_id: str,
    turns: list[dict[str, Any]],
    *,
    created_at: datetime = NOW,
    end_user_id: uuid.UUID | None = None,
    account_id: uuid.UUID | None = None,
    name: str = "New conversation",
    mode: str = "chat",
) -> tuple[uuid.UUID, list[uuid.UUID]]:
    """A conversation with one message per turn (``query``, ``answer``, ``at`` and any other
    message column), as a generation would store them."""
    async with db_session(settings) as session:
        app = await session.get(App, uuid.UUID(app_id))
        assert app is not None
        source = "console" if account_id is not None else "api"
        row = Conversation(
            tenant_id=app.tenant_id,
            app_id=app.id,
            app_model_config_id=app.app_model_config_id,
            mode=mode,
            name=name,
            from_source=source,
            from_end_user_id=end_user_id,
            from_account_id=account_id,
            created_at=created_at,
            updated_at=created_at,
        )
        session.add(row)
        await session.flush()
        ids = []
        for turn in turns:
            values = dict(turn)
            at = values.pop("at", created_at)
            message = Message(
                tenant_id=app.tenant_id,
                app_id=app.id,
                conversation_id=row.id,
                from_source=source,
                from_end_user_id=end_user_id,
                from_account_id=account_id,
                created_at=at,
                updated_at=at,
                **values,
            )
            session.add(message)
            await session.flush()
            ids.append(message.id)
            row.updated_at = at
        return row.id, ids


async def feedback(
    settings: Settings,
    message_id: uuid.UUID,
    rating: str,
    source: str = "user",
    account_id: uuid.UUID | None = None,
) -> None:
    async with db_session(settings) as session:
        message = await session.get(Message, message_id)
        assert message is not None
        session.add(
            MessageFeedback(
                tenant_id=message.tenant_id,
                app_id=message.app_id,
                conversation_id=message.conversation_id,
                message_id=message.id,
                rating=rating,
                from_source=source,
                from_end_user_id=message.from_end_user_id if source == "user" else None,
                from_account_id=account_id,
            )
        )


async def annotate(
    settings: Settings, message_id: uuid.UUID, account_id: uuid.UUID | None = None
) -> uuid.UUID:
    async with db_session(settings) as session:
        message = await session.get(Message, message_id)
        assert message is not None
        row = MessageAnnotation(
            tenant_id=message.tenant_id,
            app_id=message.app_id,
            conversation_id=message.conversation_id,
            message_id=message.id,
            question=message.query,
            content="Curated answer",
            account_id=account_id,
        )
        session.add(row)
        await session.flush()
        return row.id


async def chat_log(client: httpx.AsyncClient, settings: Settings) -> tuple[Member, Seeded]:
    """A chat app with two conversations: Alice's over the API (two turns, a user like, an
    admin dislike, an annotation) and the owner's in the console (one turn)."""
    owner = await create_member(settings, name="Olive")
    app_id = await new_app(client, owner)
    alice = await end_user(settings, app_id, "alice-session")
    first, first_messages = await conversation(
        settings,
        app_id,
        [
            {"query": "How do refunds work?", "answer": "Within 30 days.", "at": NOW},
            {
                "query": "And exchanges?",
                "answer": "Also fine.",
                "at": NOW + timedelta(minutes=5),
                "message_tokens": 12,
                "answer_tokens": 4,
                "total_price": Decimal("0.0000160"),
                "provider_response_latency": 0.5,
                "message_metadata": {"annotation_reply": {"id": "abc", "account": {"name": "O"}}},
            },
        ],
        end_user_id=alice,
        name="Refunds",
    )
    await feedback(settings, first_messages[0], "like")
    await feedback(settings, first_messages[1], "dislike", "admin", owner.account.id)
    await annotate(settings, first_messages[1], owner.account.id)
    second, second_messages = await conversation(
        settings,
        app_id,
        [{"query": "Ping from the console", "answer": "Pong", "at": NOW + timedelta(hours=1)}],
        created_at=NOW + timedelta(hours=1),
        account_id=owner.account.id,
        name="Console chat",
    )
    seeded = Seeded(app_id, [first, second], [*first_messages, *second_messages])
    return owner, seeded


CHAT_ITEM_KEYS = {
    "id",
    "status",
    "from_source",
    "from_end_user_id",
    "from_end_user_session_id",
    "from_account_id",
    "from_account_name",
    "name",
    "summary",
    "read_at",
    "created_at",
    "updated_at",
    "annotated",
    "model_config",
    "message_count",
    "user_feedback_stats",
    "admin_feedback_stats",
    "status_count",
}
MESSAGE_KEYS = {
    "id",
    "conversation_id",
    "parent_message_id",
    "inputs",
    "query",
    "message",
    "message_tokens",
    "answer",
    "answer_tokens",
    "provider_response_latency",
    "from_source",
    "from_end_user_id",
    "from_account_id",
    "feedbacks",
    "workflow_run_id",
    "annotation",
    "annotation_hit_history",
    "created_at",
    "agent_thoughts",
    "message_files",
    "extra_contents",
    "metadata",
    "status",
    "error",
}


async def test_chat_conversations_list_shape_and_counts(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    owner, seeded = await chat_log(client, settings)
    response = await client.get(f"{APPS}/{seeded.app_id}/chat-conversations", headers=owner.headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert {k: body[k] for k in ("page", "limit", "total", "has_more")} == {
        "page": 1,
        "limit": 20,
        "total": 2,
        "has_more": False,
    }
    console_item, api_item = body["data"]  # -updated_at: the console chat is newer
    assert set(api_item) == CHAT_ITEM_KEYS and set(console_item) == CHAT_ITEM_KEYS
    assert api_item["id"] == str(seeded.conversations[0])
    assert api_item["from_source"] == "api"
    assert api_item["from_end_user_session_id"] == "alice-session"
    assert api_item["from_account_id"] is None and api_item["from_account_name"] is None
    assert api_item["name"] == "Refunds" and api_item["summary"] == "How do refunds work?"
    assert api_item["message_count"] == 2 and api_item["annotated"] is True
    assert api_item["user_feedback_stats"] == {"like": 1, "dislike": 0}
    assert api_item["admin_feedback_stats"] == {"like": 0, "dislike": 1}
    assert api_item["created_at"] == int(NOW.timestamp())
    assert api_item["updated_at"] == int((NOW + timedelta(minutes=5)).timestamp())
    assert api_item["read_at"] is None and api_item["status_count"] is None
    assert set(api_item["model_config"]) == {"model", "pre_prompt"}
    assert console_item["from_account_name"] == "Olive"
    assert console_item["from_end_user_session_id"] is None
    assert console_item["annotated"] is False and console_item["message_count"] == 1
    assert console_item["user_feedback_stats"] == {"like": 0, "dislike": 0}

    paged = await client.get(
        f"{APPS}/{seeded.app_id}/chat-conversations",
        params={"limit": 1, "page": 2, "sort_by": "-updated_at"},
        headers=owner.headers,
    )
    assert paged.json()["has_more"] is False and paged.json()["total"] == 2
    assert [item["id"] for item in paged.json()["data"]] == [str(seeded.conversations[0])]
    oldest_first = await client.get(
        f"{APPS}/{seeded.app_id}/chat-conversations",
        params={"limit": 1, "sort_by": "created_at"},
        headers=owner.headers,
    )
    assert oldest_first.json()["has_more"] is True
    assert oldest_first.json()["data"][0]["id"] == str(seeded.conversations[0])


async def test_chat_conversation_filters(client: httpx.AsyncClient, settings: Settings) -> None:
    owner, seeded = await chat_log(client, settings)
    url = f"{APPS}/{seeded.app_id}/chat-conversations"
    first, second = (str(cid) for cid in seeded.conversations)

    async def ids(**params: Any) -> list[str]:
        response = await client.get(url, params=params, headers=owner.headers)
        assert response.status_code == 200, response.text
        return [item["id"] for item in response.json()["data"]]

    assert await ids(keyword="exchanges") == [first]  # a query
    assert await ids(keyword="PONG") == [second]  # an answer, any case
    assert await ids(keyword="alice-sess") == [first]  # the end user's session id
    assert await ids(keyword="console chat") == [second]  # the name
    assert await ids(keyword="%") == []
    assert await ids(annotation_status="annotated") == [first]
    assert await ids(annotation_status="not_annotated") == [second]
    assert await ids(annotation_status="all") == [second, first]

    # Bounds are read in the account's timezone: Tokyo is UTC+9, so 21:30 there is 12:30 UTC,
    # after the first conversation's last message and before the second's.
    await set_timezone(settings, owner.account.id, "Asia/Tokyo")
    assert await ids(start="2026-03-10 21:30") == [second]
    assert await ids(end="2026-03-10 21:30") == [first]
    assert await ids(start="2026-03-10 21:30", sort_by="created_at") == [second]
    assert await ids(end="2026-03-10 21:00", sort_by="created_at") == []


async def test_chat_conversation_detail_marks_read_and_delete(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    owner, seeded = await chat_log(client, settings)
    url = f"{APPS}/{seeded.app_id}/chat-conversations/{seeded.conversations[0]}"
    response = await client.get(url, headers=owner.headers)
    assert response.status_code == 200, response.text
    detail = response.json()
    assert set(detail) == {
        "id",
        "status",
        "from_source",
        "from_end_user_id",
        "from_account_id",
        "created_at",
        "updated_at",
        "annotated",
        "introduction",
        "model_config",
        "message_count",
        "user_feedback_stats",
        "admin_feedback_stats",
    }
    assert detail["message_count"] == 2 and detail["annotated"] is True
    assert set(detail["model_config"]) == {
        "opening_statement",
        "suggested_questions",
        "model",
        "user_input_form",
        "pre_prompt",
        "agent_mode",
    }
    listed = await client.get(f"{APPS}/{seeded.app_id}/chat-conversations", headers=owner.headers)
    read = {item["id"]: item["read_at"] for item in listed.json()["data"]}
    assert isinstance(read[str(seeded.conversations[0])], int)
    assert read[str(seeded.conversations[1])] is None

    deleted = await client.delete(url, headers=owner.headers)
    assert deleted.status_code == 204 and deleted.content == b""
    gone = await client.get(url, headers=owner.headers)
    assert gone.status_code == 404
    assert gone.json()["message"] == "Conversation Not Exists."
    assert (await client.delete(url, headers=owner.headers)).status_code == 404
    async with db_session(settings) as session:
        left = (await session.scalars(select(Message.conversation_id))).all()
    assert set(left) == {seeded.conversations[1]}


async def test_completion_conversations(client: httpx.AsyncClient, settings: Settings) -> None:
    owner = await create_member(settings)
    app_id = await new_app(client, owner, mode="completion")
    bob = await end_user(settings, app_id, "bob")
    cid, (mid,) = await conversation(
        settings,
        app_id,
        [{"query": "", "inputs": {"topic": "tea"}, "answer": "A poem about tea."}],
        end_user_id=bob,
        mode="completion",
    )
    await annotate(settings, mid, owner.account.id)
    await feedback(settings, mid, "like")

    listed = await client.get(f"{APPS}/{app_id}/completion-conversations", headers=owner.headers)
    assert listed.status_code == 200, listed.text
    (item,) = listed.json()["data"]
    assert set(item) == {
        "id",
        "status",
        "from_source",
        "from_end_user_id",
        "from_end_user_session_id",
        "from_account_id",
        "from_account_name",
        "read_at",
        "created_at",
        "updated_at",
        "annotation",
        "model_config",
        "user_feedback_stats",
        "admin_feedback_stats",
        "message",
    }
    assert item["message"] == {
        "inputs": {"topic": "tea"},
        "query": "",
        "message": None,
        "answer": "A poem about tea.",
    }
    assert item["annotation"]["content"] == "Curated answer"
    assert item["user_feedback_stats"] == {"like": 1, "dislike": 0}
    assert item["from_end_user_session_id"] == "bob"

    detail = await client.get(
        f"{APPS}/{app_id}/completion-conversations/{cid}", headers=owner.headers
    )
    assert detail.status_code == 200
    assert set(detail.json()) == {
        "id",
        "status",
        "from_source",
        "from_end_user_id",
        "from_account_id",
        "created_at",
        "model_config",
        "message",
    }
    message = detail.json()["message"]
    assert set(message) == MESSAGE_KEYS and message["id"] == str(mid)
    assert message["annotation"]["account"]["id"] == str(owner.account.id)

    # Each list belongs to its modes: 404 app_not_found otherwise.
    wrong = await client.get(f"{APPS}/{app_id}/chat-conversations", headers=owner.headers)
    assert wrong.status_code == 404 and wrong.json()["code"] == "app_not_found"
    chat_app = await new_app(client, owner)
    wrong = await client.get(f"{APPS}/{chat_app}/completion-conversations", headers=owner.headers)
    assert wrong.status_code == 404 and wrong.json()["code"] == "app_not_found"
    deleted = await client.delete(
        f"{APPS}/{app_id}/completion-conversations/{cid}", headers=owner.headers
    )
    assert deleted.status_code == 204


async def test_chat_messages_cursor_and_detail(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    owner = await create_member(settings)
    app_id = await new_app(client, owner)
    turns = [
        {"query": f"q{n}", "answer": f"a{n}", "at": NOW + timedelta(minutes=n)} for n in range(5)
    ]
    cid, mids = await conversation(settings, app_id, turns)
    url = f"{APPS}/{app_id}/chat-messages"

    newest = await client.get(
        url, params={"conversation_id": str(cid), "limit": 2}, headers=owner.headers
    )
    assert newest.status_code == 200, newest.text
    body = newest.json()
    assert set(body) == {"limit", "has_more", "data"} and body["limit"] == 2
    assert [m["query"] for m in body["data"]] == ["q3", "q4"] and body["has_more"] is True
    older = await client.get(
        url,
        params={"conversation_id": str(cid), "limit": 2, "first_id": body["data"][0]["id"]},
        headers=owner.headers,
    )
    assert [m["query"] for m in older.json()["data"]] == ["q1", "q2"]
    assert older.json()["has_more"] is True
    oldest = await client.get(
        url,
        params={"conversation_id": str(cid), "limit": 2, "first_id": str(mids[1])},
        headers=owner.headers,
    )
    assert [m["query"] for m in oldest.json()["data"]] == ["q0"]
    assert oldest.json()["has_more"] is False

    await feedback(settings, mids[4], "like", "admin", owner.account.id)
    detail = await client.get(f"{APPS}/{app_id}/messages/{mids[4]}", headers=owner.headers)
    assert detail.status_code == 200
    message = detail.json()
    assert set(message) == MESSAGE_KEYS
    assert message["conversation_id"] == str(cid) and message["answer"] == "a4"
    assert message["feedbacks"] == [
        {
            "rating": "like",
            "content": None,
            "from_source": "admin",
            "from_end_user_id": None,
            "from_account": {
                "id": str(owner.account.id),
                "name": owner.account.name,
                "email": owner.account.email,
            },
        }
    ]
    assert message["annotation"] is None and message["annotation_hit_history"] is None
    assert message["agent_thoughts"] == [] and message["message_files"] == []

    missing = await client.get(
        url, params={"conversation_id": str(uuid.uuid4())}, headers=owner.headers
    )
    assert missing.status_code == 404
    assert missing.json()["message"] == "Conversation Not Exists."
    bad_first = await client.get(
        url,
        params={"conversation_id": str(cid), "first_id": str(uuid.uuid4())},
        headers=owner.headers,
    )
    assert bad_first.status_code == 404
    unknown = await client.get(f"{APPS}/{app_id}/messages/{uuid.uuid4()}", headers=owner.headers)
    assert unknown.status_code == 404 and unknown.json()["message"] == "Message Not Exists."


async def test_message_detail_shows_the_agent_thoughts(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    owner = await create_member(settings, role="owner")
    app_id = await new_app(client, owner, mode="agent-chat")
    thought = {
        "id": str(uuid.uuid4()),
        "position": 1,
        "thought": "",
        "tool": "current_time",
        "tool_input": '{"current_time": {}}',
        "observation": '{"current_time": "2026-11-23 12:00:00"}',
        "tool_labels": {},
        "files": [],
    }
    _, (mid,) = await conversation(
        settings,
        app_id,
        [{"query": "time?", "answer": "noon", "message_metadata": {"agent_thoughts": [thought]}}],
        mode="agent-chat",
    )
    detail = await client.get(f"{APPS}/{app_id}/messages/{mid}", headers=owner.headers)
    assert detail.status_code == 200
    (shown,) = detail.json()["agent_thoughts"]
    assert shown["tool"] == "current_time" and shown["observation"] == thought["observation"]
    assert shown["message_id"] == str(mid) and shown["chain_id"] is None


async def test_message_shows_its_annotation_and_hit(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    owner, seeded = await chat_log(client, settings)
    response = await client.get(
        f"{APPS}/{seeded.app_id}/messages/{seeded.messages[1]}", headers=owner.headers
    )
    message = response.json()
    assert message["annotation"]["question"] == "And exchanges?"
    assert message["annotation"]["account"]["name"] == "Olive"
    assert message["annotation_hit_history"]["annotation_id"] == "abc"
    assert message["message_tokens"] == 12 and message["answer_tokens"] == 4
    assert message["provider_response_latency"] == 0.5
    assert [f["rating"] for f in message["feedbacks"]] == ["dislike"]


async def test_admin_feedback_and_annotation_count(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    owner, seeded = await chat_log(client, settings)
    url = f"{APPS}/{seeded.app_id}/feedbacks"
    target = str(seeded.messages[2])
    liked = await client.post(
        url, json={"message_id": target, "rating": "like", "content": "good"}, headers=owner.headers
    )
    assert liked.status_code == 200 and liked.json() == {"result": "success"}
    shown = await client.get(f"{APPS}/{seeded.app_id}/messages/{target}", headers=owner.headers)
    assert [(f["rating"], f["content"]) for f in shown.json()["feedbacks"]] == [("like", "good")]
    changed = await client.post(
        url, json={"message_id": target, "rating": "dislike"}, headers=owner.headers
    )
    assert changed.status_code == 200
    withdrawn = await client.post(
        url, json={"message_id": target, "rating": None}, headers=owner.headers
    )
    assert withdrawn.status_code == 200
    shown = await client.get(f"{APPS}/{seeded.app_id}/messages/{target}", headers=owner.headers)
    assert shown.json()["feedbacks"] == []
    again = await client.post(
        url, json={"message_id": target, "rating": None}, headers=owner.headers
    )
    assert again.status_code == 400 and again.json()["code"] == "invalid_param"
    bad = await client.post(
        url, json={"message_id": target, "rating": "meh"}, headers=owner.headers
    )
    assert bad.status_code == 400
    unknown = await client.post(
        url, json={"message_id": str(uuid.uuid4()), "rating": "like"}, headers=owner.headers
    )
    assert unknown.status_code == 404

    count = await client.get(f"{APPS}/{seeded.app_id}/annotations/count", headers=owner.headers)
    assert count.status_code == 200 and count.json() == {"count": 1}


async def test_bad_input_and_roles(client: httpx.AsyncClient, settings: Settings) -> None:
    owner, seeded = await chat_log(client, settings)
    base = f"{APPS}/{seeded.app_id}"
    for params in (
        {"start": "2026-03-10"},
        {"end": "yesterday"},
        {"start": "2026-03-11 00:00", "end": "2026-03-10 00:00"},
        {"annotation_status": "some"},
        {"sort_by": "name"},
        {"page": 0},
        {"limit": 101},
    ):
        response = await client.get(
            f"{base}/chat-conversations", params=params, headers=owner.headers
        )
        assert response.status_code == 400, params
        assert response.json()["code"] == "invalid_param", params
    for params in (
        {},
        {"conversation_id": "nope"},
        {"conversation_id": str(uuid.uuid4()), "first_id": "x"},
    ):
        response = await client.get(f"{base}/chat-messages", params=params, headers=owner.headers)
        assert response.status_code == 400, params
    assert (
        await client.get(f"{base}/chat-conversations/not-a-uuid", headers=owner.headers)
    ).status_code == 404

    viewer = await create_member(settings, join=owner.tenant, role=TenantRole.NORMAL)
    refused = await client.get(f"{base}/chat-conversations", headers=viewer.headers)
    assert refused.status_code == 403
    allowed = await client.get(
        f"{base}/chat-messages",
        params={"conversation_id": str(seeded.conversations[0])},
        headers=viewer.headers,
    )
    assert allowed.status_code == 200


async def test_another_workspace_gets_404_everywhere(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    owner, seeded = await chat_log(client, settings)
    stranger = await create_member(settings)
    base = f"{APPS}/{seeded.app_id}"
    cid, mid = seeded.conversations[0], seeded.messages[0]
    requests = [
        ("GET", f"{base}/chat-conversations", None),
        ("GET", f"{base}/completion-conversations", None),
        ("GET", f"{base}/chat-conversations/{cid}", None),
        ("DELETE", f"{base}/chat-conversations/{cid}", None),
        ("GET", f"{base}/completion-conversations/{cid}", None),
        ("DELETE", f"{base}/completion-conversations/{cid}", None),
        ("GET", f"{base}/chat-messages?conversation_id={cid}", None),
        ("GET", f"{base}/messages/{mid}", None),
        ("POST", f"{base}/feedbacks", {"message_id": str(mid), "rating": "like"}),
        ("GET", f"{base}/annotations/count", None),
    ]
    for method, url, body in requests:
        response = await client.request(method, url, json=body, headers=stranger.headers)
        assert response.status_code == 404, (method, url, response.text)
        assert response.json()["code"] == "app_not_found", url

    # The stranger's own app cannot reach the owner's conversation or message either.
    own = await new_app(client, stranger)
    foreign = [
        f"{APPS}/{own}/chat-conversations/{cid}",
        f"{APPS}/{own}/chat-messages?conversation_id={cid}",
        f"{APPS}/{own}/messages/{mid}",
    ]
    for url in foreign:
        response = await client.get(url, headers=stranger.headers)
        assert response.status_code == 404, url
    listed = await client.get(f"{APPS}/{own}/chat-conversations", headers=stranger.headers)
    assert listed.json()["total"] == 0
    still = await client.get(f"{base}/chat-conversations", headers=owner.headers)
    assert still.json()["total"] == 2
