"""The official ``dify-client`` 0.1.10 from PyPI against a live ore: each of its eight
methods, as it sends them, gets the status and the shape the spec (§4-§6, §9) gives."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.conformance import shapes
from tests.conformance.conftest import (
    TOPIC,
    USER,
    ChatThread,
    LiveOre,
    chat_client,
    completion_client,
    sse_events,
)

pytestmark = pytest.mark.slow


def check_usage(metadata: dict[str, Any]) -> None:
    shapes.check(metadata["usage"], shapes.USAGE)
    usage = metadata["usage"]
    assert usage["completion_tokens"] >= 1 and usage["currency"] == "USD"
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


def check_stream(events: list[dict[str, Any]], envelope: shapes.Shape) -> None:
    """Answer deltas, then one ``message_end`` with usage; one task and message throughout."""
    kinds = [event["event"] for event in events]
    assert kinds[-1] == "message_end" and set(kinds[:-1]) == {"message"}, kinds
    for event in events:
        shapes.check(event, envelope)
    assert len({(event["task_id"], event["message_id"]) for event in events}) == 1
    for event in events[:-1]:
        assert event["id"] == event["message_id"] and isinstance(event["answer"], str)
    end = events[-1]
    assert end["id"] == end["message_id"]
    check_usage(end["metadata"])


def test_get_application_parameters(live_ore: LiveOre) -> None:
    response = chat_client(live_ore).get_application_parameters(USER)
    assert response.status_code == 200, response.text
    body = response.json()
    shapes.check(body, shapes.PARAMETERS)
    shapes.check(body["system_parameters"], shapes.SYSTEM_PARAMETERS)
    for feature in ("suggested_questions_after_answer", "speech_to_text", "more_like_this"):
        shapes.check(body[feature], shapes.ENABLED)
    # The form as the app config saved it (Dify passes it through).
    [field] = body["user_input_form"]
    text_input = field["text-input"]
    assert (text_input["label"], text_input["variable"], text_input["required"]) == (
        "Team",
        "team",
        True,
    )
    assert body["file_upload"]["enabled"] is True
    assert body["file_upload"]["allowed_file_types"] == ["document"]


def test_file_upload(chat_thread: ChatThread) -> None:
    shapes.check(chat_thread.upload, shapes.FILE)
    upload = chat_thread.upload
    assert (upload["name"], upload["size"], upload["extension"]) == ("notes.txt", 11, "txt")
    assert upload["mime_type"] == "text/plain"
    uuid.UUID(upload["created_by"])  # the end user made for USER


def test_file_upload_without_a_file_part(live_ore: LiveOre) -> None:
    response = chat_client(live_ore).file_upload(USER, {"image": ("a.txt", b"x", "text/plain")})
    assert response.status_code == 400
    shapes.check_error(response.json(), 400, "no_file_uploaded")


def test_create_chat_message_blocking(chat_thread: ChatThread) -> None:
    assert chat_thread.blocking_status == 200
    body = chat_thread.blocking
    shapes.check(body, shapes.BLOCKING_CHAT)
    assert body["event"] == "message" and body["mode"] == "chat"
    assert body["id"] == body["message_id"] and body["answer"].strip()
    check_usage(body["metadata"])


def test_create_chat_message_streaming(chat_thread: ChatThread) -> None:
    assert chat_thread.streaming_status == 200
    assert chat_thread.streaming_content_type.startswith("text/event-stream")
    check_stream(chat_thread.streaming, shapes.CHAT_EVENT)
    assert {event["conversation_id"] for event in chat_thread.streaming} == {
        chat_thread.conversation_id
    }
    assert "".join(event["answer"] for event in chat_thread.streaming[:-1]).strip()


def test_create_completion_message_blocking_and_streaming(live_ore: LiveOre) -> None:
    """The client sends ``files: null`` and no query; the answer comes from the inputs."""
    client = completion_client(live_ore)
    blocking = client.create_completion_message({"topic": TOPIC}, "blocking", USER)
    assert blocking.status_code == 200, blocking.text
    body = blocking.json()
    shapes.check(body, shapes.BLOCKING_COMPLETION)
    assert "conversation_id" not in body
    assert body["event"] == "message" and body["mode"] == "completion"
    assert body["id"] == body["message_id"] and body["answer"].strip()
    check_usage(body["metadata"])

    streaming = client.create_completion_message({"topic": TOPIC}, "streaming", USER)
    assert streaming.status_code == 200, streaming.text
    assert streaming.headers["content-type"].startswith("text/event-stream")
    events = sse_events(streaming.content.decode())
    check_stream(events, shapes.COMPLETION_EVENT)
    assert all("conversation_id" not in event for event in events)


def test_create_completion_message_missing_input(live_ore: LiveOre) -> None:
    response = completion_client(live_ore).create_completion_message({}, "blocking", USER)
    assert response.status_code == 400
    shapes.check_error(response.json(), 400, "invalid_param")
    assert response.json()["message"] == "topic is required in input form"


def test_get_conversations_ignores_pinned(live_ore: LiveOre, chat_thread: ChatThread) -> None:
    client = chat_client(live_ore)
    for pinned in (None, True, False):
        response = client.get_conversations(USER, limit=5, pinned=pinned)
        assert response.status_code == 200, response.text
        body = response.json()
        shapes.check(body, shapes.CURSOR_PAGE)
        assert body["limit"] == 5 and body["has_more"] is False
        assert [item["id"] for item in body["data"]] == [chat_thread.conversation_id]
        shapes.check(body["data"][0], shapes.CONVERSATION)
        assert body["data"][0]["inputs"] == {"team": "ore"}
    other = client.get_conversations("someone-else")
    assert other.status_code == 200 and other.json()["data"] == []


def test_get_conversation_messages(live_ore: LiveOre, chat_thread: ChatThread) -> None:
    client = chat_client(live_ore)
    response = client.get_conversation_messages(USER, chat_thread.conversation_id)
    assert response.status_code == 200, response.text
    body = response.json()
    shapes.check(body, shapes.CURSOR_PAGE)
    assert body["limit"] == 20 and body["has_more"] is False
    assert [item["id"] for item in body["data"]] == chat_thread.message_ids
    for item in body["data"]:
        shapes.check(item, shapes.MESSAGE)
        assert item["conversation_id"] == chat_thread.conversation_id
    assert [item["query"] for item in body["data"]] == ["Say hi.", "Say bye."]
    assert body["data"][0]["answer"] == chat_thread.blocking["answer"]

    older = client.get_conversation_messages(
        USER, chat_thread.conversation_id, first_id=chat_thread.message_ids[1], limit=1
    )
    assert older.status_code == 200, older.text
    assert [item["id"] for item in older.json()["data"]] == chat_thread.message_ids[:1]
    unknown = client.get_conversation_messages(USER, str(uuid.uuid4()))
    assert unknown.status_code == 404
    shapes.check_error(unknown.json(), 404, "not_found")


def test_message_feedback(live_ore: LiveOre, chat_thread: ChatThread) -> None:
    client = chat_client(live_ore)
    message_id = chat_thread.message_ids[0]
    liked = client.message_feedback(message_id, "like", USER)
    assert liked.status_code == 200, liked.text
    assert liked.json() == {"result": "success"}
    history = client.get_conversation_messages(USER, chat_thread.conversation_id).json()
    assert history["data"][0]["feedback"] == {"rating": "like"}

    cleared = client.message_feedback(message_id, None, USER)
    assert cleared.status_code == 200 and cleared.json() == {"result": "success"}
    history = client.get_conversation_messages(USER, chat_thread.conversation_id).json()
    assert history["data"][0]["feedback"] is None
    nothing_to_clear = client.message_feedback(message_id, None, USER)
    assert nothing_to_clear.status_code == 400
    shapes.check_error(nothing_to_clear.json(), 400, "invalid_param")
    stranger = client.message_feedback(message_id, "like", "someone-else")
    assert stranger.status_code == 404
    shapes.check_error(stranger.json(), 404, "not_found")


def test_rename_conversation_sends_only_name_and_user(
    live_ore: LiveOre, chat_thread: ChatThread
) -> None:
    client = chat_client(live_ore)
    response = client.rename_conversation(chat_thread.conversation_id, "Greetings", USER)
    assert response.status_code == 200, response.text
    body = response.json()
    shapes.check(body, shapes.CONVERSATION)
    assert (body["id"], body["name"]) == (chat_thread.conversation_id, "Greetings")
    listed = client.get_conversations(USER).json()["data"]
    assert [item["name"] for item in listed] == ["Greetings"]


def test_wrong_key_is_refused(live_ore: LiveOre) -> None:
    response = chat_client(live_ore, key="app-" + "x" * 24).get_application_parameters(USER)
    assert response.status_code == 401
    assert response.json() == {
        "code": "unauthorized",
        "message": "Access token is invalid",
        "status": 401,
    }


def test_client_calls_with_bad_arguments(live_ore: LiveOre, chat_thread: ChatThread) -> None:
    """What the client lets a caller send that the server must refuse, with the spec's
    codes (no model call: each is refused before generation starts)."""
    client = chat_client(live_ore)
    no_user = client.create_chat_message({"team": "ore"}, "Hi", None)
    assert no_user.status_code == 400
    assert no_user.json() == {
        "code": "invalid_param",
        "message": "Arg user must be provided.",
        "status": 400,
    }
    bad_conversation = client.create_chat_message(
        {"team": "ore"}, "Hi", USER, conversation_id="not-a-uuid"
    )
    assert bad_conversation.status_code == 400
    shapes.check_error(bad_conversation.json(), 400, "invalid_param")
    stranger = client.create_chat_message(
        {"team": "ore"}, "Hi", "someone-else", conversation_id=chat_thread.conversation_id
    )
    assert stranger.status_code == 404
    shapes.check_error(stranger.json(), 404, "not_found")
    missing_input = client.create_chat_message({}, "Hi", USER)
    assert missing_input.status_code == 400
    assert missing_input.json()["message"] == "team is required in input form"

    last = client.get_conversations(USER, last_id=str(uuid.uuid4()))
    assert last.status_code == 404
    assert last.json()["message"] == "Last Conversation Not Exists."
    first = client.get_conversation_messages(
        USER, chat_thread.conversation_id, first_id=str(uuid.uuid4())
    )
    assert first.status_code == 404
    assert first.json()["message"] == "First Message Not Exists."
    too_many = client.get_conversations(USER, limit=101)
    assert too_many.status_code == 400
    shapes.check_error(too_many.json(), 400, "invalid_param")
