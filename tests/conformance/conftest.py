"""One live ``ore serve`` (embedded mode: SQLite, the local models) for the conformance suite.

The server is a real subprocess on a free loopback port, set up as a user sets it up: the
first-run admin through ``/console/api/setup`` and login, then apps, their model configs and
app keys through the console API. Embedded mode configures the ``local`` provider in the new
workspace, so answers come from the local SmolLM2 model; the apps ask for very short answers
so the few model calls stay cheap on a busy machine.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from dify_client import ChatClient, CompletionClient

from ore.core.local_models import CHAT_MODEL_NAME
from tests.processes import free_port, start_serve, stop, wait_healthy

ADMIN = {"email": "conformance@example.com", "name": "Conformance", "password": "conform-pass-1"}
USER = "conformance-user"
TEAM = "ore"
TOPIC = "rivers"
# File upload on, in the newer config format /parameters passes through.
FILES_ON = {
    "enabled": True,
    "allowed_file_types": ["document"],
    "allowed_file_extensions": [],
    "allowed_file_upload_methods": ["local_file", "remote_url"],
    "number_limits": 3,
    "image": {
        "enabled": False,
        "number_limits": 3,
        "detail": "high",
        "transfer_methods": ["remote_url", "local_file"],
    },
}


def chat_config(**features: Any) -> dict[str, Any]:
    """A chat app on the local model with one required input; four-token answers."""
    config: dict[str, Any] = {
        "model": {
            "provider": "local",
            "name": CHAT_MODEL_NAME,
            "mode": "chat",
            "completion_params": {"max_tokens": 4, "temperature": 0, "seed": 7},
        },
        "pre_prompt": "You are a helpful assistant for {{team}}. Answer in a few words.",
        "user_input_form": [
            {"text-input": {"label": "Team", "variable": "team", "required": True}}
        ],
    }
    return config | features


def completion_config() -> dict[str, Any]:
    return chat_config(
        pre_prompt="Write one short sentence about {{topic}}.",
        user_input_form=[{"paragraph": {"label": "Topic", "variable": "topic", "required": True}}],
    )


@dataclass(frozen=True)
class LiveApp:
    app_id: str
    key: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


@dataclass(frozen=True)
class LiveOre:
    """The running server, its admin's console headers and the apps made for the suite."""

    url: str
    console: dict[str, str]
    chat: LiveApp
    completion: LiveApp
    helpdesk: LiveApp  # a chat app for annotations, so its replies touch no other test

    @property
    def v1(self) -> str:
        return f"{self.url}/v1"

    def save_config(self, app: LiveApp, config: dict[str, Any]) -> None:
        saved = httpx.post(
            f"{self.url}/console/api/apps/{app.app_id}/model-config",
            json=config,
            headers=self.console,
        )
        assert saved.status_code == 200, saved.text


def _make_app(http: httpx.Client, mode: str, name: str, config: dict[str, Any]) -> LiveApp:
    created = http.post("/console/api/apps", json={"name": name, "mode": mode})
    assert created.status_code == 201, created.text
    app_id = created.json()["id"]
    saved = http.post(f"/console/api/apps/{app_id}/model-config", json=config)
    assert saved.status_code == 200, saved.text
    key = http.post(f"/console/api/apps/{app_id}/api-keys")
    assert key.status_code == 201, key.text
    return LiveApp(app_id=app_id, key=key.json()["token"])


@pytest.fixture(scope="package")
def live_ore(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveOre]:
    data_dir: Path = tmp_path_factory.mktemp("conformance")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = start_serve(data_dir, port)
    try:
        wait_healthy(server, url, data_dir)
        with httpx.Client(base_url=url, timeout=60) as http:
            assert http.post("/console/api/setup", json=ADMIN).status_code == 201
            login = http.post("/console/api/login", json=ADMIN)
            assert login.status_code == 200, login.text
            # Bearer auth, as API callers use it: the login cookies would ask for a CSRF token.
            http.cookies.clear()
            http.headers["Authorization"] = f"Bearer {login.json()['data']['access_token']}"
            live = LiveOre(
                url=url,
                console={"Authorization": http.headers["Authorization"]},
                chat=_make_app(http, "chat", "Conformance chat", chat_config(file_upload=FILES_ON)),
                completion=_make_app(http, "completion", "Conformance text", completion_config()),
                helpdesk=_make_app(http, "chat", "Conformance helpdesk", chat_config()),
            )
        yield live
    finally:
        stop(server)


def chat_client(live: LiveOre, key: str | None = None) -> ChatClient:
    """The official 0.1.10 client, pointed at the live server instead of api.dify.ai."""
    client = ChatClient(key or live.chat.key)
    client.base_url = live.v1
    return client


def completion_client(live: LiveOre) -> CompletionClient:
    client = CompletionClient(live.completion.key)
    client.base_url = live.v1
    return client


def sse_events(body: str) -> list[dict[str, Any]]:
    """The ``data:`` frames of an SSE body, parsed; ``event: ping`` keep-alives are skipped.

    Every frame ends with a blank line, and a data frame is one ``data: <json>`` line."""
    assert body.endswith("\n\n"), body[-200:]
    events = []
    for frame in body[:-2].split("\n\n"):
        if frame == "event: ping":
            continue
        assert frame.startswith("data: ") and "\n" not in frame, frame
        events.append(json.loads(frame.removeprefix("data: ")))
    return events


@dataclass(frozen=True)
class ChatThread:
    """Two turns of one conversation, made by the official client (blocking, then streaming)."""

    blocking_status: int
    blocking: dict[str, Any]
    streaming_status: int
    streaming_content_type: str
    streaming: list[dict[str, Any]]
    upload: dict[str, Any]

    @property
    def conversation_id(self) -> str:
        return str(self.blocking["conversation_id"])

    @property
    def message_ids(self) -> list[str]:
        return [str(self.blocking["id"]), str(self.streaming[-1]["message_id"])]


@pytest.fixture(scope="package")
def chat_thread(live_ore: LiveOre) -> ChatThread:
    """The first turn carries an uploaded file, as the client's files argument allows."""
    client = chat_client(live_ore)
    uploaded = client.file_upload(USER, {"file": ("notes.txt", b"Ore notes.\n", "text/plain")})
    assert uploaded.status_code == 201, uploaded.text
    upload = uploaded.json()
    files = [{"type": "document", "transfer_method": "local_file", "upload_file_id": upload["id"]}]
    first = client.create_chat_message({"team": TEAM}, "Say hi.", USER, files=files)
    assert first.status_code == 200, first.text
    second = client.create_chat_message(
        {"team": TEAM},
        "Say bye.",
        USER,
        response_mode="streaming",
        conversation_id=first.json()["conversation_id"],
    )
    return ChatThread(
        blocking_status=first.status_code,
        blocking=first.json(),
        streaming_status=second.status_code,
        streaming_content_type=second.headers.get("content-type", ""),
        streaming=sse_events(second.content.decode()),
        upload=upload,
    )
