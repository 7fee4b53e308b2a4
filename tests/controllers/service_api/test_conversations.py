"""/v1/conversations: list (cursor, sort, limits), delete, rename and auto-naming, variables,
the conversation.generate_name task, and isolation between apps and end users.

Conversations and messages are inserted as rows (:func:`add_conversation`), so these tests
do not depend on the generation routes.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import select, update

from ore.config import Settings
from ore.core.local_models import CHAT_MODEL_NAME
from ore.extensions.tasks import enqueue
from ore.models import App, AppModelConfig, Conversation, Message, TaskRun
from ore.services.conversations import fallback_name
from ore.services.end_users import end_user_for
from ore.services.generation.run import NEW_CONVERSATION_NAME
from tests.controllers.service_api.conftest import ServiceApp, local_workspace, make_service_app
from tests.factories import db_session

BASE = datetime(2026, 1, 1, tzinfo=UTC)
CONVERSATION_FIELDS = {"id", "name", "inputs", "status", "introduction", "created_at", "updated_at"}


@dataclass
class Thread:
    id: str
    message_ids: list[str]
    end_user_id: uuid.UUID


async def add_conversation(
    settings: Settings,
    service_app: ServiceApp,
    user: str | None,
    *,
    turns: list[tuple[str, str]] | None = None,
    name: str = "",
    at: datetime = BASE,
    metadata: dict[str, Any] | None = None,
) -> Thread:
    """A Service API conversation of ``user`` with one message per (query, answer), a
    second apart from ``at``."""
    turns = [("Hello there", "Hi!")] if turns is None else turns
    async with db_session(settings) as session:
        app = await session.get(App, uuid.UUID(service_app.app_id))
        assert app is not None
        end_user = await end_user_for(session, app, user)
        conversation = Conversation(
            tenant_id=app.tenant_id,
            app_id=app.id,
            mode=app.mode,
            name=name,
            inputs={"team": "ore"},
            from_source="api",
            from_end_user_id=end_user.id,
            created_at=at,
            updated_at=at + timedelta(seconds=len(turns)),
        )
        session.add(conversation)
        await session.flush()
        ids = []
        for index, (query, answer) in enumerate(turns):
            message = Message(
                tenant_id=app.tenant_id,
                app_id=app.id,
                conversation_id=conversation.id,
                query=query,
                answer=answer,
                inputs={"team": "ore"},
                from_source="api",
                from_end_user_id=end_user.id,
                message_tokens=3,
                answer_tokens=2,
                message_metadata=metadata or {},
                created_at=at + timedelta(seconds=index),
                updated_at=at + timedelta(seconds=index),
            )
            session.add(message)
            await session.flush()
            ids.append(str(message.id))
        return Thread(id=str(conversation.id), message_ids=ids, end_user_id=end_user.id)


async def patch_config(settings: Settings, app_id: str, **columns: Any) -> None:
    """Change columns of the app's current model config in place."""
    async with db_session(settings) as session:
        app = await session.get(App, uuid.UUID(app_id))
        assert app is not None and app.app_model_config_id is not None
        await session.execute(
            update(AppModelConfig)
            .where(AppModelConfig.id == app.app_model_config_id)
            .values(**columns)
        )


# A model the workspace has no credential for: calls to it fail before any request.
UNCALLABLE_MODEL = {
    "provider": "langgenius/openai/openai",
    "name": "gpt-4o",
    "mode": "chat",
    "completion_params": {},
}


async def chat_app(client: httpx.AsyncClient, settings: Settings) -> ServiceApp:
    return await make_service_app(client, await local_workspace(settings))


async def test_list_pages_with_last_id_newest_first(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    app = await chat_app(client, settings)
    threads = [
        await add_conversation(settings, app, "alice", at=BASE + timedelta(minutes=i))
        for i in range(5)
    ]
    await add_conversation(settings, app, "bob")
    newest_first = [t.id for t in reversed(threads)]

    first = await client.get(
        "/v1/conversations",
        params={"user": "alice", "limit": 2, "pinned": "true"},
        headers=app.headers,
    )
    assert first.status_code == 200, first.text
    body = first.json()
    assert set(body) == {"limit", "has_more", "data"}
    assert body["limit"] == 2 and body["has_more"] is True
    assert [c["id"] for c in body["data"]] == newest_first[:2]
    item = body["data"][0]
    assert set(item) == CONVERSATION_FIELDS
    assert item["inputs"] == {"team": "ore"} and item["status"] == "normal"
    assert isinstance(item["created_at"], int) and isinstance(item["updated_at"], int)

    seen = [c["id"] for c in body["data"]]
    last_id = seen[-1]
    while True:
        page = await client.get(
            "/v1/conversations",
            params={"user": "alice", "limit": 2, "last_id": last_id},
            headers=app.headers,
        )
        assert page.status_code == 200, page.text
        seen += [c["id"] for c in page.json()["data"]]
        if not page.json()["has_more"]:
            break
        last_id = seen[-1]
    assert seen == newest_first

    oldest_first = await client.get(
        "/v1/conversations",
        params={"user": "alice", "sort_by": "created_at", "limit": 100},
        headers=app.headers,
    )
    assert [c["id"] for c in oldest_first.json()["data"]] == [t.id for t in threads]


async def test_list_is_per_user_and_per_app(client: httpx.AsyncClient, settings: Settings) -> None:
    member = await local_workspace(settings)
    app = await make_service_app(client, member)
    other_app = await make_service_app(client, member, name="Other")
    mine = await add_conversation(settings, app, "alice")
    anonymous = await add_conversation(settings, app, None)
    await add_conversation(settings, other_app, "alice")

    def ids(response: httpx.Response) -> list[str]:
        assert response.status_code == 200, response.text
        return [c["id"] for c in response.json()["data"]]

    assert ids(
        await client.get("/v1/conversations", params={"user": "alice"}, headers=app.headers)
    ) == [mine.id]
    # No user is the shared DEFAULT-USER.
    assert ids(await client.get("/v1/conversations", headers=app.headers)) == [anonymous.id]
    assert (
        ids(await client.get("/v1/conversations", params={"user": "nobody"}, headers=app.headers))
        == []
    )
    # Another user's conversation is no cursor for this one.
    response = await client.get(
        "/v1/conversations", params={"user": "carol", "last_id": mine.id}, headers=app.headers
    )
    assert response.status_code == 404
    assert response.json() == {
        "code": "not_found",
        "message": "Last Conversation Not Exists.",
        "status": 404,
    }


async def test_list_input_errors(client: httpx.AsyncClient, settings: Settings) -> None:
    member = await local_workspace(settings)
    app = await make_service_app(client, member)
    for params in ({"limit": 0}, {"limit": 101}, {"sort_by": "name"}, {"limit": "x"}):
        response = await client.get("/v1/conversations", params=params, headers=app.headers)
        assert response.status_code == 400, params
        assert response.json()["code"] == "invalid_param"
    for last_id in (str(uuid.uuid4()), "not-a-uuid"):
        response = await client.get(
            "/v1/conversations", params={"last_id": last_id}, headers=app.headers
        )
        assert response.status_code == 404
        assert response.json()["message"] == "Last Conversation Not Exists."
    completion = await make_service_app(client, member, mode="completion")
    response = await client.get("/v1/conversations", headers=completion.headers)
    assert response.status_code == 400
    assert response.json() == {
        "code": "not_chat_app",
        "message": "Please check if your app mode matches the right API route.",
        "status": 400,
    }


async def test_delete_with_and_without_a_body(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    member = await local_workspace(settings)
    app = await make_service_app(client, member)
    other_app = await make_service_app(client, member, name="Other")
    alice = await add_conversation(settings, app, "alice")
    anonymous = await add_conversation(settings, app, None)
    foreign = await add_conversation(settings, other_app, "alice")

    # Another user, another app's id, an unknown id: 404, and nothing is deleted.
    for conversation_id, user, key in (
        (alice.id, "bob", app),
        (foreign.id, "alice", app),
        (str(uuid.uuid4()), "alice", app),
        ("nope", "alice", app),
    ):
        response = await client.request(
            "DELETE",
            f"/v1/conversations/{conversation_id}",
            json={"user": user},
            headers=key.headers,
        )
        assert response.status_code == 404
        assert response.json()["message"] == "Conversation Not Exists."

    response = await client.request(
        "DELETE", f"/v1/conversations/{alice.id}", json={"user": "alice"}, headers=app.headers
    )
    assert response.status_code == 204 and response.content == b""
    response = await client.delete(f"/v1/conversations/{anonymous.id}", headers=app.headers)
    assert response.status_code == 204
    async with db_session(settings) as session:
        left = set((await session.scalars(select(Conversation.id))).all())
        messages = set((await session.scalars(select(Message.conversation_id))).all())
    assert left == {uuid.UUID(foreign.id)}
    assert messages == {uuid.UUID(foreign.id)}

    bad = await client.request(
        "DELETE", f"/v1/conversations/{foreign.id}", content=b"{nope", headers=other_app.headers
    )
    assert bad.status_code == 400 and bad.json()["code"] == "bad_request"


async def test_rename(client: httpx.AsyncClient, settings: Settings) -> None:
    app = await chat_app(client, settings)
    thread = await add_conversation(settings, app, "alice", name="Old")
    url = f"/v1/conversations/{thread.id}/name"

    response = await client.post(
        url, json={"name": "Trip plans", "user": "alice"}, headers=app.headers
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == CONVERSATION_FIELDS
    assert body["id"] == thread.id and body["name"] == "Trip plans"
    listed = await client.get("/v1/conversations", params={"user": "alice"}, headers=app.headers)
    assert listed.json()["data"][0]["name"] == "Trip plans"

    missing = await client.post(url, json={"user": "alice"}, headers=app.headers)
    assert missing.status_code == 400
    assert missing.json() == {
        "code": "invalid_param",
        "message": "name is required when auto_generate is false",
        "status": 400,
    }
    other_user = await client.post(url, json={"name": "x", "user": "bob"}, headers=app.headers)
    assert other_user.status_code == 404
    assert other_user.json()["message"] == "Conversation Not Exists."
    no_body = await client.post(url, headers=app.headers)
    assert no_body.status_code == 400 and no_body.json()["code"] == "bad_request"
    too_long = await client.post(
        url, json={"name": "x" * 256, "user": "alice"}, headers=app.headers
    )
    assert too_long.status_code == 400 and too_long.json()["code"] == "invalid_param"


async def test_auto_generate_uses_the_app_model(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    app = await chat_app(client, settings)
    thread = await add_conversation(
        settings, app, "alice", turns=[("How do I bake sourdough bread at home?", "Like so.")]
    )
    response = await client.post(
        f"/v1/conversations/{thread.id}/name",
        json={"auto_generate": True, "user": "alice"},
        headers=app.headers,
    )
    assert response.status_code == 200, response.text
    name = response.json()["name"]
    assert name and name == name.strip() and len(name) <= 60
    # The model answered: not the fallback made of the query's first words.
    assert name != fallback_name("How do I bake sourdough bread at home?")
    async with db_session(settings) as session:
        stored = await session.get(Conversation, uuid.UUID(thread.id))
    assert stored is not None and stored.name == name


async def test_auto_generate_falls_back_to_the_query(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    app = await chat_app(client, settings)
    await patch_config(settings, app.app_id, model=UNCALLABLE_MODEL)
    thread = await add_conversation(
        settings,
        app,
        "alice",
        turns=[("  What   is the capital city of France and of Spain please", "Paris.")],
    )
    response = await client.post(
        f"/v1/conversations/{thread.id}/name",
        json={"auto_generate": True, "user": "alice"},
        headers=app.headers,
    )
    assert response.status_code == 200, response.text
    assert response.json()["name"] == "What is the capital city of"

    empty = await add_conversation(settings, app, "alice", turns=[])
    response = await client.post(
        f"/v1/conversations/{empty.id}/name",
        json={"auto_generate": True, "user": "alice"},
        headers=app.headers,
    )
    assert response.status_code == 404
    assert response.json()["message"] == "Message Not Exists."


async def run_name_task(settings: Settings, conversation_id: str) -> TaskRun:
    """Queue conversation.generate_name on the app's in-process backend and wait for it."""
    async with db_session(settings) as session:
        run_id = enqueue(
            session, "conversation.generate_name", {"conversation_id": conversation_id}
        )
    for _ in range(600):
        async with db_session(settings) as session:
            run = await session.get(TaskRun, run_id)
        assert run is not None
        if run.status in ("completed", "error"):
            return run
        await asyncio.sleep(0.1)
    raise AssertionError(f"task run {run_id} did not finish")


async def test_generate_name_task_runs_in_process(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    app = await chat_app(client, settings)
    thread = await add_conversation(
        settings, app, "alice", turns=[("Recommend three science fiction novels", "Sure.")]
    )
    run = await run_name_task(settings, thread.id)
    assert run.status == "completed", run.error
    async with db_session(settings) as session:
        stored = await session.get(Conversation, uuid.UUID(thread.id))
    assert stored is not None and stored.name.strip()
    assert run.result == {"name": stored.name}

    # A name the user gave before the task ran is kept.
    renamed = await add_conversation(settings, app, "alice", name="Reading list")
    run = await run_name_task(settings, renamed.id)
    assert run.status == "completed" and run.result == {"name": "Reading list"}
    async with db_session(settings) as session:
        kept = await session.get(Conversation, uuid.UUID(renamed.id))
    assert kept is not None and kept.name == "Reading list"


async def test_variables(client: httpx.AsyncClient, settings: Settings) -> None:
    member = await local_workspace(settings)
    app = await make_service_app(client, member)
    thread = await add_conversation(settings, app, "alice")
    url = f"/v1/conversations/{thread.id}/variables"

    listed = await client.get(url, params={"user": "alice"}, headers=app.headers)
    assert listed.status_code == 200, listed.text
    assert listed.json() == {"limit": 20, "has_more": False, "data": []}
    other_user = await client.get(url, params={"user": "bob"}, headers=app.headers)
    assert other_user.status_code == 404
    assert other_user.json()["message"] == "Conversation Not Exists."
    bad_name = await client.get(
        url, params={"user": "alice", "variable_name": "a b"}, headers=app.headers
    )
    assert bad_name.status_code == 400 and bad_name.json()["code"] == "invalid_param"
    bad_cursor = await client.get(
        url, params={"user": "alice", "last_id": str(uuid.uuid4())}, headers=app.headers
    )
    assert bad_cursor.status_code == 400 and bad_cursor.json()["code"] == "invalid_param"

    put = await client.put(
        f"{url}/{uuid.uuid4()}", json={"value": "x", "user": "alice"}, headers=app.headers
    )
    assert put.status_code == 404
    assert put.json() == {
        "code": "not_found",
        "message": "Conversation Variable Not Exists.",
        "status": 404,
    }
    no_value = await client.put(
        f"{url}/{uuid.uuid4()}", json={"user": "alice"}, headers=app.headers
    )
    assert no_value.status_code == 400 and no_value.json()["code"] == "invalid_param"
    completion = await make_service_app(client, member, mode="completion")
    response = await client.get(url, headers=completion.headers)
    assert response.status_code == 400 and response.json()["code"] == "not_chat_app"


async def test_a_chat_message_makes_a_listed_conversation_that_gets_named(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    app = await chat_app(client, settings)
    short = {
        "provider": "langgenius/local/local",
        "name": CHAT_MODEL_NAME,
        "mode": "chat",
        "completion_params": {"max_tokens": 12, "temperature": 0, "seed": 7},
    }
    await patch_config(settings, app.app_id, model=short)
    sent = await client.post(
        "/v1/chat-messages",
        json={"inputs": {}, "query": "Tell me about the moon", "user": "alice"},
        headers=app.headers,
    )
    assert sent.status_code == 200, sent.text
    conversation_id, message_id = sent.json()["conversation_id"], sent.json()["id"]

    listed = await client.get("/v1/conversations", params={"user": "alice"}, headers=app.headers)
    assert [c["id"] for c in listed.json()["data"]] == [conversation_id]
    history = await client.get(
        "/v1/messages",
        params={"conversation_id": conversation_id, "user": "alice"},
        headers=app.headers,
    )
    (item,) = history.json()["data"]
    assert item["id"] == message_id and item["answer"] == sent.json()["answer"]
    assert item["query"] == "Tell me about the moon"
    hidden = await client.get("/v1/conversations", params={"user": "bob"}, headers=app.headers)
    assert hidden.json()["data"] == []

    name = NEW_CONVERSATION_NAME
    for _ in range(600):
        async with db_session(settings) as session:
            stored = await session.get(Conversation, uuid.UUID(conversation_id))
        assert stored is not None
        name = stored.name
        if name != NEW_CONVERSATION_NAME:
            break
        await asyncio.sleep(0.1)
    assert name != NEW_CONVERSATION_NAME and name.strip()


async def test_every_id_route_is_closed_to_other_apps_and_users(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    member = await local_workspace(settings)
    app = await make_service_app(client, member)
    sibling = await make_service_app(client, member, name="Sibling")
    stranger = await make_service_app(client, await local_workspace(settings), name="Far")
    thread = await add_conversation(settings, app, "alice")
    conversation, message = thread.id, thread.message_ids[0]
    conversation_missing = "Conversation Not Exists."
    message_missing = "Message Not Exists."

    def calls(user: str) -> list[tuple[str, str, dict[str, Any], str]]:
        return [
            (
                "GET",
                "/v1/messages",
                {"params": {"conversation_id": conversation, "user": user}},
                conversation_missing,
            ),
            (
                "DELETE",
                f"/v1/conversations/{conversation}",
                {"json": {"user": user}},
                conversation_missing,
            ),
            (
                "POST",
                f"/v1/conversations/{conversation}/name",
                {"json": {"name": "x", "user": user}},
                conversation_missing,
            ),
            (
                "GET",
                f"/v1/conversations/{conversation}/variables",
                {"params": {"user": user}},
                conversation_missing,
            ),
            (
                "PUT",
                f"/v1/conversations/{conversation}/variables/v",
                {"json": {"value": 1, "user": user}},
                conversation_missing,
            ),
            (
                "POST",
                f"/v1/messages/{message}/feedbacks",
                {"json": {"rating": "like", "user": user}},
                message_missing,
            ),
            (
                "GET",
                f"/v1/messages/{message}/suggested",
                {"params": {"user": user}},
                message_missing,
            ),
        ]

    for key, user in ((sibling, "alice"), (stranger, "alice"), (app, "bob"), (app, "ALICE")):
        for method, path, arguments, expected in calls(user):
            response = await client.request(method, path, headers=key.headers, **arguments)
            assert response.status_code == 404, (method, path, user, response.text)
            assert response.json() == {"code": "not_found", "message": expected, "status": 404}
    # The owner still has it all.
    listed = await client.get(
        "/v1/messages",
        params={"conversation_id": conversation, "user": "alice"},
        headers=app.headers,
    )
    assert [m["id"] for m in listed.json()["data"]] == [message]
