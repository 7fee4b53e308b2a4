"""POST /v1/files/upload (stored through the storage extension with its SHA-256; Dify's
400/413/415 errors) and GET /v1/files/{id}/preview (only files this app's messages use)."""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path

import httpx
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from sqlalchemy import select

from ore.app_factory import create_app
from ore.config import Settings
from ore.models import App, Message, MessageFile, UploadFile
from ore.services import files
from ore.services.end_users import end_user_for, find_end_user
from tests.conftest import make_settings
from tests.controllers.service_api.conftest import (
    ServiceApp,
    local_workspace,
    make_service_app,
)
from tests.controllers.service_api.test_conversations import add_conversation
from tests.factories import db_session

UPLOAD = "/v1/files/upload"
FILE_FIELDS = {
    "id",
    "name",
    "size",
    "extension",
    "mime_type",
    "created_by",
    "created_at",
    "preview_url",
    "source_url",
    "original_url",
    "user_id",
    "tenant_id",
    "conversation_id",
    "file_key",
}
BOUNDARY = "ore-test-boundary"


def multipart(*parts: tuple[str, str | None, str | None, bytes]) -> bytes:
    """A multipart body from (name, filename, content type, data); None leaves a header out."""
    chunks = []
    for name, filename, content_type, data in parts:
        disposition = f'form-data; name="{name}"'
        if filename is not None:
            disposition += f'; filename="{filename}"'
        headers = f"Content-Disposition: {disposition}\r\n"
        if content_type is not None:
            headers += f"Content-Type: {content_type}\r\n"
        chunks.append(f"--{BOUNDARY}\r\n{headers}\r\n".encode() + data + b"\r\n")
    return b"".join(chunks) + f"--{BOUNDARY}--\r\n".encode()


async def post_raw(client: httpx.AsyncClient, app: ServiceApp, body: bytes) -> httpx.Response:
    headers = {**app.headers, "Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}
    return await client.post(UPLOAD, content=body, headers=headers)


async def upload(
    client: httpx.AsyncClient,
    app: ServiceApp,
    name: str,
    data: bytes,
    content_type: str = "text/plain",
    user: str | None = "alice",
) -> httpx.Response:
    form = {"user": user} if user is not None else {}
    return await client.post(
        UPLOAD, data=form, files={"file": (name, data, content_type)}, headers=app.headers
    )


async def test_upload_stores_bytes_and_hash(
    client: httpx.AsyncClient, app: FastAPI, settings: Settings
) -> None:
    service = await make_service_app(client, await local_workspace(settings))
    data = "Ore notes, with ünïcode.\n".encode()
    response = await upload(client, service, "Notes.TXT", data)
    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == FILE_FIELDS
    assert (body["name"], body["size"], body["extension"]) == ("Notes.TXT", len(data), "txt")
    assert body["mime_type"] == "text/plain" and isinstance(body["created_at"], int)
    assert body["source_url"].endswith(f"/v1/files/{body['id']}/preview")
    async with db_session(settings) as session:
        found = await session.get(App, uuid.UUID(service.app_id))
        assert found is not None
        alice = await find_end_user(session, found, "alice")
        row = await session.get(UploadFile, uuid.UUID(body["id"]))
    assert alice is not None and body["created_by"] == str(alice.id)
    assert row is not None and row.hash == hashlib.sha256(data).hexdigest()
    assert row.tenant_id == found.tenant_id and row.created_by_role == "end_user"
    assert body["tenant_id"] == str(found.tenant_id)
    assert await app.state.ore.storage.load(row.key) == data
    assert row.key.startswith(f"upload_files/{found.tenant_id}/")

    # Without a user the file belongs to the shared anonymous end user.
    anonymous = await upload(client, service, "a.txt", b"x", user=None)
    assert anonymous.status_code == 201
    assert anonymous.json()["created_by"] != str(alice.id)


async def test_upload_form_errors(client: httpx.AsyncClient, settings: Settings) -> None:
    service = await make_service_app(client, await local_workspace(settings))
    cases: list[tuple[bytes, int, str]] = [
        (multipart(("user", None, None, b"alice")), 400, "no_file_uploaded"),
        (multipart(("document", "a.txt", "text/plain", b"x")), 400, "no_file_uploaded"),
        (
            multipart(
                ("file", "a.txt", "text/plain", b"x"), ("other", "b.txt", "text/plain", b"y")
            ),
            400,
            "too_many_files",
        ),
        (multipart(("file", "", "text/plain", b"x")), 400, "filename_not_exists_error"),
        (multipart(("file", "a.txt", None, b"x")), 415, "unsupported_file_type"),
        # An extension that would put a path into the storage key.
        (multipart(("file", "x./../../y", "text/plain", b"x")), 415, "unsupported_file_type"),
        (multipart(("file", "x.tar gz", "text/plain", b"x")), 415, "unsupported_file_type"),
    ]
    for body, status, code in cases:
        response = await post_raw(client, service, body)
        assert response.status_code == status, (code, response.text)
        assert response.json()["code"] == code
    messages = {
        "no_file_uploaded": "Please upload your file.",
        "too_many_files": "Only one file is allowed.",
        "filename_not_exists_error": "The specified filename does not exist.",
        "unsupported_file_type": "File type not allowed.",
    }
    for body, status, code in cases:
        response = await post_raw(client, service, body)
        assert response.json() == {"code": code, "message": messages[code], "status": status}
    as_json = await client.post(UPLOAD, json={"user": "alice"}, headers=service.headers)
    assert as_json.status_code == 400 and as_json.json()["code"] == "no_file_uploaded"
    nul = await post_raw(client, service, multipart(("file", "a\x00b.txt", "text/plain", b"x")))
    assert nul.status_code == 400 and nul.json()["code"] == "invalid_param"
    async with db_session(settings) as session:
        assert (await session.scalars(select(UploadFile))).all() == []
    assert not (settings.storage_path / "upload_files").exists()


async def test_upload_limits_and_blacklist(
    settings: Settings, database_url: str, tmp_path: Path
) -> None:
    limited = make_settings(
        database_url,
        tmp_path / "limited",
        UPLOAD_FILE_SIZE_LIMIT=1,
        UPLOAD_IMAGE_FILE_SIZE_LIMIT=2,
        UPLOAD_FILE_EXTENSION_BLACKLIST="exe, .BAT",
    )
    application = create_app(limited)
    async with LifespanManager(application, startup_timeout=60, shutdown_timeout=60):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            service = await make_service_app(http, await local_workspace(limited))
            one_mb = 1024 * 1024
            cases: list[tuple[str, int, str, int]] = [
                ("notes.txt", one_mb, "text/plain", 201),
                ("notes.txt", one_mb + 1, "text/plain", 413),
                ("photo.png", one_mb + one_mb // 2, "image/png", 201),
                ("photo.png", 2 * one_mb + 1, "image/png", 413),
                ("setup.exe", 10, "application/octet-stream", 415),
                ("run.bat", 10, "application/octet-stream", 415),
            ]
            for name, size, content_type, status in cases:
                response = await upload(http, service, name, b"a" * size, content_type)
                assert response.status_code == status, (name, size, response.text)
                if status == 413:
                    assert response.json()["code"] == "file_too_large"
                    assert response.json()["message"].startswith("File size exceeded.")
                if status == 415:
                    assert response.json()["code"] == "unsupported_file_type"
            parameters = await http.get("/v1/parameters", headers=service.headers)
            assert parameters.json()["system_parameters"]["file_size_limit"] == 1


async def attach(settings: Settings, service: ServiceApp, file_id: str) -> None:
    """Use the uploaded file in a message of ``service``."""
    thread = await add_conversation(settings, service, "alice")
    async with db_session(settings) as session:
        message = await session.get(Message, uuid.UUID(thread.message_ids[0]))
        assert message is not None
        session.add(
            MessageFile(
                tenant_id=message.tenant_id,
                message_id=message.id,
                type="document",
                transfer_method="local_file",
                belongs_to="user",
                upload_file_id=uuid.UUID(file_id),
                created_by_role="end_user",
                created_by=thread.end_user_id,
            )
        )


async def test_preview_only_for_files_this_app_uses(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    member = await local_workspace(settings)
    service = await make_service_app(client, member)
    sibling = await make_service_app(client, member, name="Sibling")
    stranger = await make_service_app(client, await local_workspace(settings), name="Far")
    data = b"%PDF-1.4 not really"
    created = await upload(client, service, "Report 2026 é.pdf", data, "application/pdf")
    file_id = created.json()["id"]
    url = f"/v1/files/{file_id}/preview"

    def not_found(response: httpx.Response) -> None:
        assert response.status_code == 404, response.text
        assert response.json()["code"] == "file_not_found"

    not_found(await client.get(url, headers=service.headers))  # no message uses it yet
    await attach(settings, service, file_id)

    response = await client.get(url, headers=service.headers)
    assert response.status_code == 200, response.text
    assert response.content == data
    assert response.headers["content-type"] == "application/pdf"
    attachment = await client.get(
        url, params={"as_attachment": "true", "user": "bob"}, headers=service.headers
    )
    assert attachment.status_code == 200 and attachment.content == data
    assert attachment.headers["content-type"] == "application/octet-stream"
    assert (
        attachment.headers["content-disposition"]
        == "attachment; filename*=UTF-8''Report%202026%20%C3%A9.pdf"
    )

    denied = await client.get(url, headers=sibling.headers)
    assert denied.status_code == 403
    assert denied.json() == {
        "code": "file_access_denied",
        "message": "Access to the requested file is denied.",
        "status": 403,
    }
    not_found(await client.get(url, headers=stranger.headers))
    not_found(await client.get(f"/v1/files/{uuid.uuid4()}/preview", headers=service.headers))
    not_found(await client.get("/v1/files/nope/preview", headers=service.headers))


async def test_owned_upload_is_the_end_users_own(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    member = await local_workspace(settings)
    service = await make_service_app(client, member)
    stranger = await make_service_app(client, await local_workspace(settings), name="Far")
    file_id = (await upload(client, service, "a.txt", b"x")).json()["id"]
    async with db_session(settings) as session:
        app = await session.get(App, uuid.UUID(service.app_id))
        other = await session.get(App, uuid.UUID(stranger.app_id))
        assert app is not None and other is not None
        alice = await find_end_user(session, app, "alice")
        assert alice is not None
        found = await files.owned_upload(session, app, alice, file_id)
        assert found is not None and str(found.id) == file_id
        bob = await end_user_for(session, app, "bob")
        assert await files.owned_upload(session, app, bob, file_id) is None
        assert await files.owned_upload(session, other, alice, file_id) is None
        assert await files.owned_upload(session, app, alice, "nope") is None
