"""The rows of the spec's §9 client table (app routes) that ``dify-client`` 0.1.10 lacks,
sent with httpx exactly as the table describes, against a live ore; plus the paths the
newest client calls that are not part of the Service API (404)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from ore.core.local_models import EMBEDDING_MODEL_NAME
from tests.conformance import shapes
from tests.conformance.conftest import (
    ADMIN,
    FILES_ON,
    USER,
    ChatThread,
    LiveApp,
    LiveOre,
    chat_config,
)

pytestmark = pytest.mark.slow

LOCAL_EMBEDDING = {
    "embedding_provider_name": "local",
    "embedding_model_name": EMBEDDING_MODEL_NAME,
    "score_threshold": 0.8,
}
JOB_STATUSES = {"waiting", "processing", "completed", "error"}


@pytest.fixture
def v1(live_ore: LiveOre) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live_ore.v1, timeout=120) as http:
        yield http


def call(http: httpx.Client, app: LiveApp, method: str, path: str, **kwargs: Any) -> httpx.Response:
    """One request as the newest client sends it: the app key, JSON bodies as JSON."""
    return http.request(method, path, headers=app.headers, **kwargs)


def test_get_meta(v1: httpx.Client, live_ore: LiveOre) -> None:
    response = call(v1, live_ore.chat, "GET", "/meta", params={"user": USER})
    assert response.status_code == 200, response.text
    assert response.json() == {"tool_icons": {}}  # a chat app without agent tools


def test_get_app_info(v1: httpx.Client, live_ore: LiveOre) -> None:
    for app, name, mode in (
        (live_ore.chat, "Conformance chat", "chat"),
        (live_ore.completion, "Conformance text", "completion"),
    ):
        response = call(v1, app, "GET", "/info")
        assert response.status_code == 200, response.text
        body = response.json()
        shapes.check(body, shapes.INFO)
        assert (body["name"], body["mode"], body["author_name"]) == (name, mode, ADMIN["name"])


def test_get_app_site_info(v1: httpx.Client, live_ore: LiveOre) -> None:
    response = call(v1, live_ore.chat, "GET", "/site")
    assert response.status_code == 200, response.text
    body = response.json()
    shapes.check(body, shapes.SITE)
    assert body["title"] == "Conformance chat"
    assert body["icon_type"] in ("emoji", "image", None)


def test_text_to_audio_and_audio_to_text_while_disabled(
    v1: httpx.Client, live_ore: LiveOre
) -> None:
    speech = call(
        v1,
        live_ore.completion,
        "POST",
        "/text-to-audio",
        json={"text": "Hello", "user": USER, "streaming": False},
    )
    assert speech.status_code == 400
    shapes.check_error(speech.json(), 400, "invalid_param")
    transcript = call(
        v1,
        live_ore.completion,
        "POST",
        "/audio-to-text",
        data={"user": USER},
        files={"file": ("hello.mp3", b"ID3 not really audio", "audio/mp3")},
    )
    assert transcript.status_code == 400
    shapes.check_error(transcript.json(), 400, "speech_to_text_disabled")


def test_features_switched_on_in_the_console(
    v1: httpx.Client, live_ore: LiveOre, chat_thread: ChatThread
) -> None:
    """Suggestions answer once the console turns them on; speech features turned on still
    fail with the spec's codes, as ore has no speech model."""
    app = live_ore.chat
    url = f"/messages/{chat_thread.message_ids[1]}/suggested"
    disabled = call(v1, app, "GET", url, params={"user": USER})
    assert disabled.status_code == 400
    assert disabled.json() == {
        "code": "bad_request",
        "message": "Suggested Questions Is Disabled.",
        "status": 400,
    }
    on = {"enabled": True}
    features = {
        "suggested_questions_after_answer": on,
        "speech_to_text": on,
        "text_to_speech": {"enabled": True, "voice": "", "language": ""},
    }
    live_ore.save_config(app, chat_config(file_upload=FILES_ON, **features))
    try:
        parameters = call(v1, app, "GET", "/parameters", params={"user": USER}).json()
        assert parameters["suggested_questions_after_answer"] == on

        suggested = call(v1, app, "GET", url, params={"user": USER})
        assert suggested.status_code == 200, suggested.text
        body = suggested.json()
        assert set(body) >= {"result", "data"} and body["result"] == "success"
        assert isinstance(body["data"], list) and len(body["data"]) <= 3
        assert all(isinstance(question, str) and question for question in body["data"])
        no_user = call(v1, app, "GET", url)
        assert no_user.status_code == 400
        shapes.check_error(no_user.json(), 400, "invalid_param")
        unknown = call(v1, app, "GET", f"/messages/{uuid.uuid4()}/suggested", params={"user": USER})
        assert unknown.status_code == 404
        shapes.check_error(unknown.json(), 404, "not_found")

        transcript = call(
            v1,
            app,
            "POST",
            "/audio-to-text",
            data={"user": USER},
            files={"file": ("hello.mp3", b"ID3 not really audio", "audio/mp3")},
        )
        assert transcript.status_code == 400
        shapes.check_error(transcript.json(), 400, "provider_not_support_speech_to_text")
        # The older requests-based 0.1.12 client names the part audio_file: Dify reads file.
        misnamed = call(
            v1,
            app,
            "POST",
            "/audio-to-text",
            data={"user": USER},
            files={"audio_file": ("hello.mp3", b"ID3 not really audio", "audio/mp3")},
        )
        assert misnamed.status_code == 400
        shapes.check_error(misnamed.json(), 400, "no_audio_uploaded")
        speech = call(v1, app, "POST", "/text-to-audio", json={"text": "Hi", "user": USER})
        assert speech.status_code == 400
        shapes.check_error(speech.json(), 400, "provider_not_initialize")
    finally:
        live_ore.save_config(app, chat_config(file_upload=FILES_ON))


def test_stop_message_answers_success_for_any_task(
    v1: httpx.Client, live_ore: LiveOre, chat_thread: ChatThread
) -> None:
    """Finished, unknown and other users' tasks alike: 200 success, as in Dify."""
    finished = chat_thread.blocking["task_id"]
    for task_id, user in ((finished, USER), (str(uuid.uuid4()), USER), (finished, "other")):
        response = call(
            v1, live_ore.chat, "POST", f"/chat-messages/{task_id}/stop", json={"user": user}
        )
        assert response.status_code == 200, response.text
        assert response.json() == {"result": "success"}
    completion = call(
        v1,
        live_ore.completion,
        "POST",
        f"/completion-messages/{uuid.uuid4()}/stop",
        json={"user": USER},
    )
    assert completion.status_code == 200 and completion.json() == {"result": "success"}
    no_user = call(v1, live_ore.chat, "POST", f"/chat-messages/{finished}/stop", json={})
    assert no_user.status_code == 400
    shapes.check_error(no_user.json(), 400, "invalid_param")


def test_get_file_preview_of_a_file_a_message_used(
    v1: httpx.Client, live_ore: LiveOre, chat_thread: ChatThread
) -> None:
    """The first turn sent the uploaded file with file upload on, so a message uses it."""
    history = call(
        v1,
        live_ore.chat,
        "GET",
        "/messages",
        params={"user": USER, "conversation_id": chat_thread.conversation_id},
    ).json()
    files = history["data"][0]["message_files"]
    assert [item["upload_file_id"] for item in files] == [chat_thread.upload["id"]], files
    response = call(v1, live_ore.chat, "GET", f"/files/{chat_thread.upload['id']}/preview")
    assert response.status_code == 200, response.text
    assert response.content == b"Ore notes.\n"
    assert response.headers["content-type"].startswith("text/plain")


def test_get_file_preview_errors(v1: httpx.Client, live_ore: LiveOre) -> None:
    uploaded = call(
        v1,
        live_ore.chat,
        "POST",
        "/files/upload",
        data={"user": USER},
        files={"file": ("unused.txt", b"unused", "text/plain")},
    )
    assert uploaded.status_code == 201, uploaded.text
    for file_id in (uploaded.json()["id"], str(uuid.uuid4())):
        response = call(v1, live_ore.chat, "GET", f"/files/{file_id}/preview")
        assert response.status_code == 404
        shapes.check_error(response.json(), 404, "file_not_found")


def test_rename_conversation_as_the_newest_client_sends_it(
    v1: httpx.Client, live_ore: LiveOre, chat_thread: ChatThread
) -> None:
    path = f"/conversations/{chat_thread.conversation_id}/name"
    body = {"name": "Renamed", "auto_generate": False, "user": USER}
    response = call(v1, live_ore.chat, "POST", path, json=body)
    assert response.status_code == 200, response.text
    shapes.check(response.json(), shapes.CONVERSATION)
    assert response.json()["name"] == "Renamed"
    nameless = call(v1, live_ore.chat, "POST", path, json={"auto_generate": False, "user": USER})
    assert nameless.status_code == 400
    shapes.check_error(nameless.json(), 400, "invalid_param")


def test_conversation_variables(
    v1: httpx.Client, live_ore: LiveOre, chat_thread: ChatThread
) -> None:
    path = f"/conversations/{chat_thread.conversation_id}/variables"
    listed = call(v1, live_ore.chat, "GET", path, params={"user": USER})
    assert listed.status_code == 200, listed.text
    shapes.check(listed.json(), shapes.CURSOR_PAGE)
    assert listed.json()["data"] == []  # a basic chat app keeps no conversation variables
    paged = call(v1, live_ore.chat, "GET", path, params={"user": USER, "page": 2, "limit": 5})
    assert paged.status_code == 200 and paged.json()["limit"] == 5

    updated = call(
        v1, live_ore.chat, "PUT", f"{path}/{uuid.uuid4()}", json={"value": "x", "user": USER}
    )
    assert updated.status_code == 404
    assert updated.json() == {
        "code": "not_found",
        "message": "Conversation Variable Not Exists.",
        "status": 404,
    }
    stranger = call(v1, live_ore.chat, "GET", path, params={"user": "someone-else"})
    assert stranger.status_code == 404
    shapes.check_error(stranger.json(), 404, "not_found")


def wait_for_job(http: httpx.Client, app: LiveApp, action: str, job_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        response = call(http, app, "GET", f"/apps/annotation-reply/{action}/status/{job_id}")
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        assert set(body) >= {"job_id", "job_status", "error_msg"}
        assert body["job_status"] in JOB_STATUSES
        if body["job_status"] in ("completed", "error"):
            return body
        time.sleep(0.2)
    raise AssertionError(f"annotation reply job {job_id} did not finish in 60 s")


def reply_action(http: httpx.Client, app: LiveApp, action: str) -> dict[str, Any]:
    started = call(http, app, "POST", f"/apps/annotation-reply/{action}", json=LOCAL_EMBEDDING)
    assert started.status_code == 200, started.text
    assert set(started.json()) >= {"job_id", "job_status"}
    assert started.json()["job_status"] in JOB_STATUSES
    done = wait_for_job(http, app, action, started.json()["job_id"])
    assert done["job_status"] == "completed", done
    return done


def test_annotations_reply_and_delete_conversation(v1: httpx.Client, live_ore: LiveOre) -> None:
    """Create, list, update; the reply action answers a chat from the annotation (no model
    call); that conversation is then deleted with a JSON body; the annotation last."""
    app = live_ore.helpdesk
    question = "How do I reset my password?"
    created = call(v1, app, "POST", "/apps/annotations", json={"question": "Reset?", "answer": "?"})
    assert created.status_code == 201, created.text
    shapes.check(created.json(), shapes.ANNOTATION)
    annotation_id = created.json()["id"]

    updated = call(
        v1,
        app,
        "PUT",
        f"/apps/annotations/{annotation_id}",
        json={"question": question, "answer": "Use the reset link."},
    )
    assert updated.status_code == 200, updated.text
    shapes.check(updated.json(), shapes.ANNOTATION)
    assert (updated.json()["question"], updated.json()["answer"]) == (
        question,
        "Use the reset link.",
    )
    listed = call(
        v1, app, "GET", "/apps/annotations", params={"page": 1, "limit": 1, "keyword": "reset"}
    )
    assert listed.status_code == 200, listed.text
    shapes.check(listed.json(), shapes.NUMBERED_PAGE)
    assert [item["id"] for item in listed.json()["data"]] == [annotation_id]
    assert (listed.json()["total"], listed.json()["has_more"]) == (1, True)  # page full
    missing = call(v1, app, "GET", "/apps/annotations", params={"keyword": "nothing like it"})
    assert missing.json()["data"] == [] and missing.json()["total"] == 0

    reply_action(v1, app, "enable")
    unknown_job = call(v1, app, "GET", f"/apps/annotation-reply/enable/status/{uuid.uuid4()}")
    assert unknown_job.status_code == 400
    assert unknown_job.json()["message"] == "The job does not exist."
    shapes.check_error(unknown_job.json(), 400, "invalid_param")

    chat = call(
        v1,
        app,
        "POST",
        "/chat-messages",
        json={
            "inputs": {"team": "ore"},
            "query": question,
            "user": USER,
            "response_mode": "blocking",
            "auto_generate_name": False,
        },
    )
    assert chat.status_code == 200, chat.text
    assert chat.json()["answer"] == "Use the reset link."
    assert chat.json()["metadata"]["annotation_reply"]["id"] == annotation_id
    conversation = f"/conversations/{chat.json()['conversation_id']}"

    deleted = call(v1, app, "DELETE", conversation, json={"user": USER})
    assert deleted.status_code == 204 and deleted.content == b""
    again = call(v1, app, "DELETE", conversation, json={"user": USER})
    assert again.status_code == 404
    shapes.check_error(again.json(), 404, "not_found")

    reply_action(v1, app, "disable")
    removed = call(v1, app, "DELETE", f"/apps/annotations/{annotation_id}")
    assert removed.status_code == 204 and removed.content == b""
    gone = call(v1, app, "DELETE", f"/apps/annotations/{annotation_id}")
    assert gone.status_code == 404
    shapes.check_error(gone.json(), 404, "not_found")


NOT_SERVICE_API = [
    ("GET", "/apps/{app}/site/config"),
    ("PUT", "/apps/{app}/site/config"),
    ("GET", "/apps/{app}/api-tokens"),
    ("POST", "/apps/{app}/api-tokens"),
    ("DELETE", "/apps/{app}/api-tokens/{id}"),
    ("GET", "/apps/{app}/workflow/draft"),
    ("PUT", "/apps/{app}/workflow/draft"),
    ("POST", "/apps/{app}/workflow/publish"),
    ("GET", "/apps/{app}/workflow/runs"),
    ("GET", "/workspaces/current/model-providers"),
    ("GET", "/workspaces/current/model-providers/openai/models"),
    ("POST", "/workspaces/current/model-providers/openai/credentials/validate"),
    ("GET", "/files/{id}/info"),
    ("GET", "/files/{id}/download-url"),
    ("DELETE", "/files/{id}"),
    ("POST", "/datasets/from-template"),
    ("POST", "/datasets/{id}/duplicate"),
]


def test_paths_outside_the_service_api_are_not_found(v1: httpx.Client, live_ore: LiveOre) -> None:
    for method, template in NOT_SERVICE_API:
        path = template.format(app=live_ore.chat.app_id, id=uuid.uuid4())
        response = call(v1, live_ore.chat, method, path, json={})
        assert response.status_code == 404, (method, path, response.text)
        shapes.check_error(response.json(), 404, "not_found")
