"""GET /v1/messages (pages newest first, each oldest to newest; feedback, files and
citations on each item) and GET /v1/messages/{id}/suggested, with isolation and input
errors."""

from __future__ import annotations

import uuid

import httpx
from sqlalchemy import update

from ore.config import Settings
from ore.models import App, Message, MessageFeedback, MessageFile, UploadFile
from tests.controllers.service_api.conftest import local_workspace, make_service_app
from tests.controllers.service_api.test_conversations import (
    UNCALLABLE_MODEL,
    add_conversation,
    patch_config,
)
from tests.factories import db_session

MESSAGE_FIELDS = {
    "id",
    "conversation_id",
    "parent_message_id",
    "inputs",
    "query",
    "answer",
    "message_files",
    "feedback",
    "retriever_resources",
    "agent_thoughts",
    "status",
    "error",
    "created_at",
    "message_tokens",
    "answer_tokens",
    "total_tokens",
    "provider_response_latency",
}
TURNS = [(f"question {i}", f"answer {i}") for i in range(5)]


async def test_history_pages_back_from_the_latest(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    app = await make_service_app(client, await local_workspace(settings))
    thread = await add_conversation(settings, app, "alice", turns=TURNS)
    ids = thread.message_ids
    async with db_session(settings) as session:
        for message_id, status, error in (
            (ids[3], "error", "Model failed"),
            (ids[4], "stopped", None),
        ):
            await session.execute(
                update(Message)
                .where(Message.id == uuid.UUID(message_id))
                .values(status=status, error=error)
            )

    first = await client.get(
        "/v1/messages",
        params={"conversation_id": thread.id, "user": "alice", "limit": 2},
        headers=app.headers,
    )
    assert first.status_code == 200, first.text
    body = first.json()
    assert set(body) == {"limit", "has_more", "data"}
    assert body["limit"] == 2 and body["has_more"] is True
    assert [m["id"] for m in body["data"]] == ids[3:5]
    item = body["data"][0]
    assert set(item) == MESSAGE_FIELDS
    assert item["conversation_id"] == thread.id
    assert (item["query"], item["answer"]) == ("question 3", "answer 3")
    assert item["inputs"] == {"team": "ore"}
    assert (item["status"], item["error"]) == ("error", "Model failed")
    # A stopped answer is a normal one for clients that know only normal and error.
    assert body["data"][1]["status"] == "normal"
    assert item["feedback"] is None and item["message_files"] == []
    assert item["agent_thoughts"] == [] and item["retriever_resources"] == []
    assert item["total_tokens"] == 5 and isinstance(item["created_at"], int)

    second = await client.get(
        "/v1/messages",
        params={"conversation_id": thread.id, "user": "alice", "limit": 2, "first_id": ids[3]},
        headers=app.headers,
    )
    assert [m["id"] for m in second.json()["data"]] == ids[1:3]
    assert second.json()["has_more"] is True
    last = await client.get(
        "/v1/messages",
        params={"conversation_id": thread.id, "user": "alice", "limit": 2, "first_id": ids[1]},
        headers=app.headers,
    )
    assert [m["id"] for m in last.json()["data"]] == ids[:1]
    assert last.json()["has_more"] is False

    whole = await client.get(
        "/v1/messages", params={"conversation_id": thread.id, "user": "alice"}, headers=app.headers
    )
    assert [m["id"] for m in whole.json()["data"]] == ids
    assert whole.json()["limit"] == 20 and whole.json()["has_more"] is False


async def test_items_carry_feedback_files_and_citations(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    app = await make_service_app(client, await local_workspace(settings))
    citation = {
        "position": 1,
        "dataset_id": "d1",
        "dataset_name": "Docs",
        "document_id": "doc1",
        "document_name": "guide.md",
        "segment_id": "s1",
        "score": 0.9,
        "content": "Ore answers questions.",
    }
    thread = await add_conversation(
        settings, app, "alice", metadata={"retriever_resources": [citation]}
    )
    message_id = uuid.UUID(thread.message_ids[0])
    async with db_session(settings) as session:
        found = await session.get(App, uuid.UUID(app.app_id))
        assert found is not None
        upload = UploadFile(
            tenant_id=found.tenant_id,
            storage_type="local",
            key="upload_files/x/photo.png",
            name="photo.png",
            size=12,
            extension="png",
            mime_type="image/png",
            created_by_role="end_user",
            created_by=thread.end_user_id,
        )
        session.add(upload)
        await session.flush()
        for method, upload_id, url in (
            ("local_file", upload.id, None),
            ("remote_url", None, "https://example.com/cat.png"),
        ):
            session.add(
                MessageFile(
                    tenant_id=found.tenant_id,
                    message_id=message_id,
                    type="image",
                    transfer_method=method,
                    url=url,
                    belongs_to="user",
                    upload_file_id=upload_id,
                    created_by_role="end_user",
                    created_by=thread.end_user_id,
                )
            )
        session.add(
            MessageFeedback(
                tenant_id=found.tenant_id,
                app_id=found.id,
                conversation_id=uuid.UUID(thread.id),
                message_id=message_id,
                rating="like",
                from_source="user",
                from_end_user_id=thread.end_user_id,
            )
        )
    response = await client.get(
        "/v1/messages", params={"conversation_id": thread.id, "user": "alice"}, headers=app.headers
    )
    assert response.status_code == 200, response.text
    item = response.json()["data"][0]
    assert item["feedback"] == {"rating": "like"}
    local, remote = item["message_files"]
    assert local["upload_file_id"] == str(upload.id) and local["filename"] == "photo.png"
    assert local["url"].endswith(f"/v1/files/{upload.id}/preview")
    assert (local["mime_type"], local["size"], local["type"]) == ("image/png", 12, "image")
    assert (local["transfer_method"], local["belongs_to"]) == ("local_file", "user")
    assert remote["url"] == "https://example.com/cat.png" and remote["upload_file_id"] is None
    (resource,) = item["retriever_resources"]
    assert (
        resource["content"] == "Ore answers questions." and resource["document_name"] == "guide.md"
    )
    assert resource["message_id"] == str(message_id) and isinstance(resource["created_at"], int)
    assert resource["id"]


async def test_history_isolation_and_errors(client: httpx.AsyncClient, settings: Settings) -> None:
    member = await local_workspace(settings)
    app = await make_service_app(client, member)
    other_app = await make_service_app(client, member, name="Other")
    thread = await add_conversation(settings, app, "alice", turns=TURNS)
    foreign = await add_conversation(settings, other_app, "alice")

    for params, key in (
        ({"conversation_id": thread.id, "user": "bob"}, app),
        ({"conversation_id": thread.id}, app),
        ({"conversation_id": foreign.id, "user": "alice"}, app),
        ({"conversation_id": thread.id, "user": "alice"}, other_app),
        ({"conversation_id": "nope", "user": "alice"}, app),
    ):
        response = await client.get("/v1/messages", params=params, headers=key.headers)
        assert response.status_code == 404, params
        assert response.json() == {
            "code": "not_found",
            "message": "Conversation Not Exists.",
            "status": 404,
        }
    for first_id in (foreign.message_ids[0], str(uuid.uuid4())):
        response = await client.get(
            "/v1/messages",
            params={"conversation_id": thread.id, "user": "alice", "first_id": first_id},
            headers=app.headers,
        )
        assert response.status_code == 404
        assert response.json()["message"] == "First Message Not Exists."
    for params in (
        {"user": "alice"},
        {"conversation_id": thread.id, "limit": 0},
        {"conversation_id": thread.id, "limit": 101},
    ):
        response = await client.get("/v1/messages", params=params, headers=app.headers)
        assert response.status_code == 400, params
        assert response.json()["code"] == "invalid_param"
    completion = await make_service_app(client, member, mode="completion")
    response = await client.get(
        "/v1/messages", params={"conversation_id": thread.id}, headers=completion.headers
    )
    assert response.status_code == 400 and response.json()["code"] == "not_chat_app"


async def test_suggested_questions(client: httpx.AsyncClient, settings: Settings) -> None:
    member = await local_workspace(settings)
    app = await make_service_app(client, member)
    thread = await add_conversation(
        settings,
        app,
        "alice",
        turns=[("What is a good first programming language?", "Python is a good choice.")],
    )
    url = f"/v1/messages/{thread.message_ids[0]}/suggested"

    disabled = await client.get(url, params={"user": "alice"}, headers=app.headers)
    assert disabled.status_code == 400
    assert disabled.json() == {
        "code": "bad_request",
        "message": "Suggested Questions Is Disabled.",
        "status": 400,
    }
    await patch_config(settings, app.app_id, suggested_questions_after_answer={"enabled": True})
    response = await client.get(url, params={"user": "alice"}, headers=app.headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["result"] == "success"
    assert 1 <= len(body["data"]) <= 3
    assert all(isinstance(q, str) and q == q.strip() and q for q in body["data"])

    no_user = await client.get(url, headers=app.headers)
    assert no_user.status_code == 400
    assert no_user.json() == {
        "code": "invalid_param",
        "message": "Arg user must be provided.",
        "status": 400,
    }
    for params, target in (
        ({"user": "bob"}, url),
        ({"user": "alice"}, f"/v1/messages/{uuid.uuid4()}/suggested"),
    ):
        response = await client.get(target, params=params, headers=app.headers)
        assert response.status_code == 404
        assert response.json()["message"] == "Message Not Exists."

    # The model cannot be called: still 200, with no questions.
    await patch_config(settings, app.app_id, model=UNCALLABLE_MODEL)
    response = await client.get(url, params={"user": "alice"}, headers=app.headers)
    assert response.status_code == 200
    assert response.json() == {"result": "success", "data": []}

    completion = await make_service_app(client, member, mode="completion")
    response = await client.get(url, params={"user": "alice"}, headers=completion.headers)
    assert response.status_code == 400 and response.json()["code"] == "not_chat_app"
