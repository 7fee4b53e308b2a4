"""Files sent with a message: an end user's own upload becomes a message file (shown in
GET /v1/messages, then served by the preview route), a vision model gets it as an image
part, remote URLs go through the SSRF-guarded user client, and an app with file upload
off ignores ``files`` altogether."""

from __future__ import annotations

import asyncio
import base64
import threading
import uuid
from pathlib import Path
from typing import Any

import httpx
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from sqlalchemy import func, select, update
from starlette.requests import Request
from starlette.responses import Response

from ore.app_factory import create_app
from ore.config import Settings
from ore.models import App, Message, MessageFile
from ore.services import model_providers
from tests.conftest import make_settings
from tests.controllers.service_api.conftest import (
    ServiceApp,
    local_workspace,
    make_service_app,
)
from tests.controllers.service_api.test_files import upload
from tests.controllers.service_api.test_generation import local_config
from tests.factories import db_session
from tests.upstreams import ScriptedServer, chunk, openai_stream

# Enough of a PNG for its kind to be known by name and media type.
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(64))
FILE_UPLOAD: dict[str, Any] = {
    "enabled": True,
    "allowed_file_types": ["image"],
    "allowed_file_upload_methods": ["local_file", "remote_url"],
    "number_limits": 2,
    "image": {"enabled": True, "number_limits": 2, "detail": "low"},
}
VISION_MODEL = "gpt-4o"


def chat_body(files: list[dict[str, Any]], user: str = "ada", **fields: Any) -> dict[str, Any]:
    return {
        "query": "What is in the picture?",
        "inputs": {"team": "Ore"},
        "user": user,
        "files": files,
        "auto_generate_name": False,
        **fields,
    }


def local_file(file_id: str, kind: str = "image") -> dict[str, Any]:
    return {"type": kind, "transfer_method": "local_file", "upload_file_id": file_id}


def remote_file(url: str) -> dict[str, Any]:
    return {"type": "image", "transfer_method": "remote_url", "url": url}


async def upload_png(client: httpx.AsyncClient, app: ServiceApp, user: str = "ada") -> str:
    response = await upload(client, app, "cat.png", PNG, "image/png", user=user)
    assert response.status_code == 201, response.text
    file_id: str = response.json()["id"]
    return file_id


async def counts(settings: Settings, app: ServiceApp) -> tuple[int, int]:
    """(messages, message files) of the app."""
    async with db_session(settings) as session:
        messages = await session.scalar(
            select(func.count(Message.id)).where(Message.app_id == uuid.UUID(app.app_id))
        )
        files = await session.scalar(
            select(func.count(MessageFile.id))
            .join(Message, Message.id == MessageFile.message_id)
            .where(Message.app_id == uuid.UUID(app.app_id))
        )
    return messages or 0, files or 0


def error(response: httpx.Response) -> tuple[int, str, str]:
    body = response.json()
    return response.status_code, body["code"], body["message"]


async def test_an_uploaded_file_joins_the_message_and_becomes_previewable(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    member = await local_workspace(settings)
    service = await make_service_app(
        client, member, model_config=local_config(file_upload=FILE_UPLOAD)
    )
    file_id = await upload_png(client, service)
    preview = f"/v1/files/{file_id}/preview"
    before = await client.get(preview, headers=service.headers)
    assert error(before)[:2] == (404, "file_not_found")

    response = await client.post(
        "/v1/chat-messages", json=chat_body([local_file(file_id)]), headers=service.headers
    )
    assert response.status_code == 200, response.text
    answer = response.json()

    async with db_session(settings) as session:
        rows = list(
            await session.scalars(
                select(MessageFile).where(MessageFile.message_id == uuid.UUID(answer["id"]))
            )
        )
    assert len(rows) == 1
    row = rows[0]
    assert (row.type, row.transfer_method, row.belongs_to) == ("image", "local_file", "user")
    assert str(row.upload_file_id) == file_id and row.created_by_role == "end_user"

    history = await client.get(
        "/v1/messages",
        params={"conversation_id": answer["conversation_id"], "user": "ada"},
        headers=service.headers,
    )
    assert history.status_code == 200, history.text
    (item,) = history.json()["data"][0]["message_files"]
    assert item["id"] == str(row.id) and item["upload_file_id"] == file_id
    assert (item["filename"], item["type"], item["mime_type"]) == ("cat.png", "image", "image/png")
    assert (item["size"], item["transfer_method"], item["belongs_to"]) == (
        len(PNG),
        "local_file",
        "user",
    )
    assert item["url"].endswith(preview)

    served = await client.get(preview, headers=service.headers)
    assert served.status_code == 200 and served.content == PNG
    assert served.headers["content-type"] == "image/png"


async def test_files_that_are_not_the_senders_own_uploads_are_refused(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    member = await local_workspace(settings)
    service = await make_service_app(
        client, member, model_config=local_config(file_upload=FILE_UPLOAD)
    )
    others = await upload_png(client, service, user="bob")
    own = await upload_png(client, service)
    notes = await upload(client, service, "notes.txt", b"plain words", "text/plain", user="ada")
    assert notes.status_code == 201
    cases: list[tuple[list[dict[str, Any]], str]] = [
        ([local_file(others)], "Invalid upload file"),
        ([local_file(str(uuid.uuid4()))], "Invalid upload file"),
        ([local_file("not-a-uuid")], "Invalid upload file"),
        ([{"type": "image", "transfer_method": "local_file"}], "Invalid upload file"),
        (
            [local_file(notes.json()["id"], "document")],
            "File validation failed for file: notes.txt",
        ),
        # Declared an image, but it is text: it could not go to a model as a picture.
        ([local_file(notes.json()["id"])], "File validation failed for file: notes.txt"),
        ([local_file(own)] * 3, "Number of files exceeds the maximum limit 2"),
        (
            [{"type": "image", "transfer_method": "tool_file"}],
            "Invalid file transfer method: tool_file",
        ),
        ([{"type": "picture", "transfer_method": "local_file"}], "Invalid file type: picture"),
        ([{"type": "image", "transfer_method": "remote_url"}], "Invalid file url"),
        (["cat.png"], "files must be a list of file objects"),
    ]
    for files, message in cases:
        response = await client.post(
            "/v1/chat-messages", json=chat_body(files), headers=service.headers
        )
        assert error(response) == (400, "invalid_param", message), files
    not_a_list = await client.post(
        "/v1/chat-messages", json={**chat_body([]), "files": "cat.png"}, headers=service.headers
    )
    assert error(not_a_list) == (400, "invalid_param", "files must be a list of file objects")
    # Refused before the start unit commits: no message, no file rows.
    assert await counts(settings, service) == (0, 0)


async def test_files_are_ignored_when_file_upload_is_off(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    member = await local_workspace(settings)
    service = await make_service_app(client, member, model_config=local_config())
    file_id = await upload_png(client, service)
    files = [local_file(file_id), local_file(str(uuid.uuid4())), {"type": "nonsense"}]
    response = await client.post(
        "/v1/chat-messages", json=chat_body(files), headers=service.headers
    )
    assert response.status_code == 200, response.text
    assert await counts(settings, service) == (1, 0)


async def test_a_refused_remote_url_is_a_clear_400(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    member = await local_workspace(settings)
    service = await make_service_app(
        client, member, model_config=local_config(file_upload=FILE_UPLOAD)
    )
    for url in ("http://127.0.0.1:9/cat.png", "http://10.1.2.3/cat.png", "file:///etc/passwd"):
        response = await client.post(
            "/v1/chat-messages", json=chat_body([remote_file(url)]), headers=service.headers
        )
        status, code, message = error(response)
        assert (status, code) == (400, "invalid_param"), url
        assert message.startswith("Invalid file url: "), message
    assert await counts(settings, service) == (0, 0)


FILE_FORM: list[dict[str, Any]] = [
    {"text-input": {"label": "Team", "variable": "team", "required": True}},
    {
        "file": {
            "label": "Photo",
            "variable": "photo",
            "required": False,
            "allowed_file_types": ["image"],
            "allowed_file_upload_methods": ["local_file"],
        }
    },
    {
        "file-list": {
            "label": "Notes",
            "variable": "notes",
            "required": False,
            "max_length": 2,
            "allowed_file_types": ["document"],
            "allowed_file_upload_methods": ["local_file"],
        }
    },
]


async def test_file_inputs_are_checked_and_stored_as_references(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    member = await local_workspace(settings)
    # File upload is off for ``files``: input variables have their own rules.
    service = await make_service_app(
        client, member, model_config=local_config(user_input_form=FILE_FORM)
    )
    photo = await upload_png(client, service)
    others = await upload_png(client, service, user="bob")
    notes = await upload(client, service, "notes.txt", b"plain words", "text/plain", user="ada")
    note = {**local_file(notes.json()["id"], "document"), "extra": "dropped"}

    def body(**inputs: Any) -> dict[str, Any]:
        return {**chat_body([]), "inputs": {"team": "Ore", **inputs}}

    cases: list[tuple[dict[str, Any], str]] = [
        ({"photo": local_file(others)}, "Invalid upload file"),
        ({"photo": [local_file(photo)]}, "photo in input form must be a file"),
        ({"photo": local_file(notes.json()["id"])}, "File validation failed for file: notes.txt"),
        (
            {"photo": remote_file("http://127.0.0.1:9/cat.png")},
            "File validation failed for file: cat.png",
        ),
        ({"notes": [note, note, note]}, "notes in input form must be less than 2 files"),
        ({"notes": [local_file(photo)]}, "File validation failed for file: cat.png"),
    ]
    for inputs, message in cases:
        response = await client.post(
            "/v1/chat-messages", json=body(**inputs), headers=service.headers
        )
        assert error(response) == (400, "invalid_param", message), inputs
    assert await counts(settings, service) == (0, 0)

    response = await client.post(
        "/v1/chat-messages",
        json=body(photo=local_file(photo), notes=[note]),
        headers=service.headers,
    )
    assert response.status_code == 200, response.text
    history = await client.get(
        "/v1/messages",
        params={"conversation_id": response.json()["conversation_id"], "user": "ada"},
        headers=service.headers,
    )
    (message,) = history.json()["data"]
    assert message["inputs"]["photo"] == local_file(photo)
    assert message["inputs"]["notes"] == [local_file(notes.json()["id"], "document")]


# --- a vision model, behind the scripted upstream ---------------------------------------


def image_response(body: dict[str, Any], request: Request) -> Response:
    """What a file host answers to the probe's HEAD."""
    return Response(b"", media_type="image/png")


async def vision_app(
    http: httpx.AsyncClient, application: FastAPI, settings: Settings, upstream: str
) -> ServiceApp:
    """An app on OpenAI's gpt-4o (the catalogue marks it ``vision``), whose base URL is
    the scripted server: a custom openai_api_compatible model has no descriptor, so the
    catalogue cannot mark it as seeing."""
    member = await local_workspace(settings)
    async with db_session(settings) as session:
        await model_providers.add_credential(
            session,
            application.state.ore.models,
            settings.SECRET_KEY,
            member.tenant.id,
            "openai",
            {"api_key": "sk-test", "base_url": upstream},
            check=False,
        )
    config = local_config(file_upload=FILE_UPLOAD)
    config["model"] = {"provider": "openai", "name": VISION_MODEL, "completion_params": {}}
    return await make_service_app(http, member, model_config=config)


def sent_user_content(scripted: ScriptedServer) -> list[dict[str, Any]]:
    path, body, _ = scripted.received[-1]
    assert path.endswith("/chat/completions") and body["model"] == VISION_MODEL
    content: list[dict[str, Any]] = body["messages"][-1]["content"]
    return content


async def test_a_vision_model_sees_uploaded_and_remote_images(
    settings: Settings, database_url: str, tmp_path: Path, scripted_server: ScriptedServer
) -> None:
    allowed = make_settings(database_url, tmp_path / "allowed", SSRF_ALLOWED_HOSTS="127.0.0.1")
    application = create_app(allowed)
    async with LifespanManager(application, startup_timeout=60, shutdown_timeout=60):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            service = await vision_app(http, application, allowed, f"{scripted_server.url}/v1")
            file_id = await upload_png(http, service)
            scripted_server.queue(openai_stream(chunk("A cat."), chunk(finish="stop")))
            first = await http.post(
                "/v1/chat-messages", json=chat_body([local_file(file_id)]), headers=service.headers
            )
            assert first.status_code == 200, first.text
            assert first.json()["answer"] == "A cat."
            text, image = sent_user_content(scripted_server)
            assert text == {"type": "text", "text": "What is in the picture?"}
            encoded = base64.b64encode(PNG).decode()
            assert image == {
                "type": "image_url",
                "image_url": {"url": f"data:image/png;base64,{encoded}", "detail": "low"},
            }

            remote = f"{scripted_server.url}/pictures/dog.png"
            scripted_server.queue(
                image_response, openai_stream(chunk("A dog."), chunk(finish="stop"))
            )
            second = await http.post(
                "/v1/chat-messages",
                json=chat_body(
                    [remote_file(remote)], conversation_id=first.json()["conversation_id"]
                ),
                headers=service.headers,
            )
            assert second.status_code == 200, second.text
            probe_path = scripted_server.received[-2][0]
            assert probe_path == "/pictures/dog.png"
            assert sent_user_content(scripted_server)[-1] == {
                "type": "image_url",
                "image_url": {"url": remote, "detail": "low"},
            }
            history = await http.get(
                "/v1/messages",
                params={"conversation_id": first.json()["conversation_id"], "user": "ada"},
                headers=service.headers,
            )
            last = history.json()["data"][-1]["message_files"]
    assert [(f["transfer_method"], f["url"], f["upload_file_id"]) for f in last] == [
        ("remote_url", remote, None)
    ]


async def test_a_slow_file_host_holds_no_write_lock_while_probed(
    settings: Settings, database_url: str, tmp_path: Path, scripted_server: ScriptedServer
) -> None:
    """The HEAD of a remote file runs before the start unit: while the host is silent,
    other units of work still write (on SQLite the start unit holds the process's one
    write lock, so a probe inside it would stall every writer until the host answered)."""
    allowed = make_settings(database_url, tmp_path / "allowed", SSRF_ALLOWED_HOSTS="127.0.0.1")
    probing, released = threading.Event(), threading.Event()

    def slow_probe(body: dict[str, Any], request: Request) -> Response:
        probing.set()
        released.wait(15)
        return image_response(body, request)

    application = create_app(allowed)
    async with LifespanManager(application, startup_timeout=60, shutdown_timeout=60):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            service = await vision_app(http, application, allowed, f"{scripted_server.url}/v1")
            scripted_server.queue(slow_probe, openai_stream(chunk("A dog."), chunk(finish="stop")))
            body = chat_body([remote_file(f"{scripted_server.url}/pictures/dog.png")])
            asked = asyncio.create_task(
                http.post("/v1/chat-messages", json=body, headers=service.headers)
            )
            try:
                assert await asyncio.to_thread(probing.wait, 15)
                async with asyncio.timeout(5):
                    async with application.state.ore.db.unit_of_work() as session:
                        await session.execute(
                            update(App)
                            .where(App.id == uuid.UUID(service.app_id))
                            .values(description="written while the file host was silent")
                        )
                assert not asked.done()  # still waiting for the host
            finally:
                released.set()
            answered = await asked
    assert answered.status_code == 200, answered.text
    assert answered.json()["answer"] == "A dog."
    async with db_session(allowed) as session:
        app = await session.get(App, uuid.UUID(service.app_id))
    assert app is not None and app.description == "written while the file host was silent"
