"""App DSL export and import (console spec sections 8 and 9, DSL spec section 1): round
trips, statuses and HTTP codes, every failure string, pending imports and their
confirmation, imports from a URL through the SSRF-guarded client, roles and workspaces."""

from __future__ import annotations

import asyncio
import json
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from sqlalchemy import func, select

from ore.app_factory import create_app as create_ore_app
from ore.config import Settings
from ore.models import App, AppModelConfig, TenantRole
from ore.services import dsl
from tests.conftest import make_settings
from tests.controllers.console.test_apps import APPS, LOCAL_CHAT_MODEL, create_app, set_default_llm
from tests.factories import Member, create_member, db_session

IMPORTS = f"{APPS}/imports"
# A name the tests' HTTP client maps onto loopback, and the only one it may reach there.
DSL_HOST = "dsl.example.test"


def graph_document(mode: str) -> dict[str, Any]:
    """A small exported graph app (start → LLM → end), shaped like Dify's DSL files."""
    nodes = [
        {"id": "start", "data": {"type": "start", "title": "Start", "variables": []}},
        {"id": "llm", "data": {"type": "llm", "title": "LLM", "model": {"provider": "openai"}}},
        {"id": "end", "data": {"type": "end", "title": "End", "outputs": []}},
    ]
    edges = [
        {"id": "e1", "source": "start", "target": "llm"},
        {"id": "e2", "source": "llm", "target": "end"},
    ]
    return {
        "app": {"mode": mode, "name": f"A {mode} app", "icon": "🤖", "description": ""},
        "kind": "app",
        "version": "0.1.0",
        "workflow": {"features": {}, "graph": {"nodes": nodes, "edges": edges}},
    }


AUDIT_KEYS = ("created_by", "created_at", "updated_by", "updated_at")


@dataclass
class FileServer:
    """Serves ``files`` (path → (status, body)) on loopback and records requested paths."""

    port: int
    files: dict[str, tuple[int, bytes]] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)

    def url(self, path: str, host: str = DSL_HOST) -> str:
        return f"http://{host}:{self.port}{path}"


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        return

    def do_GET(self) -> None:
        fixture = self.server.fixture
        fixture.requests.append(self.path)
        status, body = fixture.files.get(self.path, (404, b"not found"))
        self.send_response(status)
        self.send_header("Content-Type", "text/yaml; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fixture: FileServer


@pytest.fixture
def file_server() -> Iterator[FileServer]:
    server = _Server(("127.0.0.1", 0), _Handler)
    server.fixture = FileServer(port=server.server_address[1])
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield server.fixture
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def dsl_settings(database_url: str, tmp_path: Path, _clean_tables: None) -> Settings:
    return make_settings(
        database_url,
        tmp_path,
        HTTP_HOST_OVERRIDES=f"{DSL_HOST}=127.0.0.1",
        SSRF_ALLOWED_HOSTS=DSL_HOST,
    )


@pytest.fixture
async def dsl_app(dsl_settings: Settings) -> AsyncIterator[FastAPI]:
    application = create_ore_app(dsl_settings)
    async with LifespanManager(application, startup_timeout=60, shutdown_timeout=60):
        yield application


@pytest.fixture
async def http(dsl_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=dsl_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


def basic_dsl(
    mode: str = "chat", version: str | None = "0.6.0", **model_config: Any
) -> dict[str, Any]:
    document: dict[str, Any] = {
        "kind": "app",
        "app": {
            "name": "Imported helper",
            "mode": mode,
            "icon": "🤖",
            "icon_type": "emoji",
            "icon_background": "#FFEAD5",
            "description": "From a file",
            "use_icon_as_answer_icon": True,
        },
        "model_config": {
            "model": {
                "provider": "langgenius/openai/openai",
                "name": "gpt-4o-mini",
                "mode": "chat",
                "completion_params": {"temperature": 0.3},
            },
            "pre_prompt": "Answer as {{persona}}.",
            "user_input_form": [
                {"text-input": {"variable": "persona", "label": "Persona", "required": True}}
            ],
            "opening_statement": "Hello",
            **model_config,
        },
        "dependencies": [],
    }
    if version is not None:
        document["version"] = version
    return document


def as_yaml(document: dict[str, Any]) -> str:
    return yaml.safe_dump(document, allow_unicode=True)


async def post_import(
    client: httpx.AsyncClient, member: Member, **body: Any
) -> tuple[int, dict[str, Any]]:
    # json.dumps escapes to ASCII, so lone surrogates can be sent as a client could.
    headers = {**member.headers, "Content-Type": "application/json"}
    response = await client.post(IMPORTS, content=json.dumps(body), headers=headers)
    answer: dict[str, Any] = response.json()
    return response.status_code, answer


async def import_content(
    client: httpx.AsyncClient, member: Member, document: dict[str, Any] | str, **body: Any
) -> tuple[int, dict[str, Any]]:
    content = document if isinstance(document, str) else as_yaml(document)
    return await post_import(client, member, mode="yaml-content", yaml_content=content, **body)


async def get_app(client: httpx.AsyncClient, member: Member, app_id: str) -> dict[str, Any]:
    response = await client.get(f"{APPS}/{app_id}", headers=member.headers)
    assert response.status_code == 200, response.text
    detail: dict[str, Any] = response.json()
    return detail


async def export(
    client: httpx.AsyncClient, member: Member, app_id: str, **params: Any
) -> dict[str, Any]:
    response = await client.get(f"{APPS}/{app_id}/export", params=params, headers=member.headers)
    assert response.status_code == 200, response.text
    assert set(response.json()) == {"data"}
    document: dict[str, Any] = yaml.safe_load(response.json()["data"])
    return document


def without_audit(config: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in config.items() if key not in AUDIT_KEYS}


async def app_count(settings: Settings) -> tuple[int, int]:
    async with db_session(settings) as session:
        apps = await session.scalar(select(func.count()).select_from(App))
        configs = await session.scalar(select(func.count()).select_from(AppModelConfig))
    return apps or 0, configs or 0


# --- export and round trip -----------------------------------------------------------------


@pytest.mark.parametrize("mode", ["chat", "completion", "agent-chat"])
async def test_round_trip_gives_an_equivalent_app(
    http: httpx.AsyncClient, dsl_settings: Settings, mode: str
) -> None:
    owner = await create_member(dsl_settings)
    await set_default_llm(dsl_settings, owner.tenant.id, "local", LOCAL_CHAT_MODEL)
    created = await create_app(
        http,
        owner,
        name="Réponses 中文",
        mode=mode,
        icon_type="emoji",
        icon="🦊",
        icon_background="#E4FBCC",
    )
    config = {
        "model": {
            "provider": "local",
            "name": LOCAL_CHAT_MODEL,
            "completion_params": {"temperature": 0.2, "stop": ["###"]},
        },
        "pre_prompt": "You are {{role}}. Say 你好.",
        "user_input_form": [
            {"text-input": {"label": "Role", "variable": "role", "required": True}},
            {"select": {"label": "Tone", "variable": "tone", "options": ["calm", "brisk"]}},
        ],
        "opening_statement": "Hello!",
        "suggested_questions": ["What can you do?"],
        "agent_mode": {
            "enabled": mode == "agent-chat",
            "strategy": "function_call",
            "tools": [{"provider_id": "time", "tool_name": "now", "credential_id": "secret-id"}],
        },
    }
    url = f"{APPS}/{created['id']}"
    saved = await http.post(f"{url}/model-config", json=config, headers=owner.headers)
    assert saved.status_code == 200, saved.text
    original = await get_app(http, owner, created["id"])

    document = await export(http, owner, created["id"])
    assert document["version"] == "0.6.0"
    assert document["kind"] == "app"
    assert document["dependencies"] == []
    assert document["app"] == {
        "name": "Réponses 中文",
        "mode": mode,
        "icon": "🦊",
        "icon_type": "emoji",
        "icon_background": "#E4FBCC",
        "description": "",
        "use_icon_as_answer_icon": False,
    }
    assert "workflow" not in document
    # The exported config is the app's, less the agent tools' credential ids.
    expected = without_audit(original["model_config"])
    expected["agent_mode"]["tools"][0].pop("credential_id")
    assert document["model_config"] == expected

    raw = (await http.get(f"{url}/export", headers=owner.headers)).json()["data"]
    assert "Réponses 中文" in raw  # Unicode is written as is, not escaped
    status, result = await import_content(http, owner, raw)
    assert status == 200, result
    assert result["status"] == "completed"
    assert result["app_mode"] == mode
    assert result["current_dsl_version"] == result["imported_dsl_version"] == "0.6.0"
    assert result["error"] == ""
    uuid.UUID(result["id"])
    assert result["app_id"] != created["id"]

    copy = await get_app(http, owner, result["app_id"])
    assert copy["mode"] == mode
    assert copy["name"] == "Réponses 中文"
    assert copy["icon"] == "🦊"
    assert copy["site"] is not None
    assert without_audit(copy["model_config"]) == expected
    # And the copy exports to the same file.
    assert await export(http, owner, result["app_id"]) == document


async def test_include_secret_is_accepted_and_graph_apps_cannot_be_exported_yet(
    http: httpx.AsyncClient, dsl_settings: Settings
) -> None:
    owner = await create_member(dsl_settings)
    chat = await create_app(http, owner)
    with_secret = await export(http, owner, chat["id"], include_secret="true")
    assert with_secret == await export(http, owner, chat["id"], include_secret="false")
    workflow = await create_app(http, owner, mode="workflow")
    response = await http.get(f"{APPS}/{workflow['id']}/export", headers=owner.headers)
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_param"
    assert "not supported yet" in response.json()["message"]


# --- import: statuses and versions ---------------------------------------------------------


async def test_import_uses_the_file_and_the_overrides(
    http: httpx.AsyncClient, dsl_settings: Settings
) -> None:
    owner = await create_member(dsl_settings)
    status, result = await import_content(http, owner, basic_dsl())
    assert status == 200 and result["status"] == "completed", result
    app = await get_app(http, owner, result["app_id"])
    assert (app["name"], app["description"], app["icon"], app["icon_background"]) == (
        "Imported helper",
        "From a file",
        "🤖",
        "#FFEAD5",
    )
    assert app["icon_type"] == "emoji"
    assert app["use_icon_as_answer_icon"] is True
    # The provider is not configured in this workspace: the import keeps it (as Dify).
    assert app["model_config"]["model"] == {
        "provider": "langgenius/openai/openai",
        "name": "gpt-4o-mini",
        "mode": "chat",
        "completion_params": {"temperature": 0.3},
    }
    assert app["model_config"]["pre_prompt"] == "Answer as {{persona}}."

    status, result = await import_content(
        http,
        owner,
        basic_dsl(),
        name="Renamed",
        description="Mine now",
        icon_type="image",
        icon="file-id",
        icon_background="#000000",
    )
    assert status == 200, result
    app = await get_app(http, owner, result["app_id"])
    assert (app["name"], app["description"], app["icon_type"], app["icon"]) == (
        "Renamed",
        "Mine now",
        "image",
        "file-id",
    )
    assert app["icon_background"] == "#000000"


@pytest.mark.parametrize(
    ("version", "status", "imported"),
    [
        ("0.1.5", "completed-with-warnings", "0.1.5"),
        ("0.5.0", "completed-with-warnings", "0.5.0"),
        (None, "completed-with-warnings", "0.1.0"),
        ("0.6.0", "completed", "0.6.0"),
    ],
)
async def test_older_versions_import_with_warnings(
    http: httpx.AsyncClient,
    dsl_settings: Settings,
    version: str | None,
    status: str,
    imported: str,
) -> None:
    owner = await create_member(dsl_settings)
    code, result = await import_content(http, owner, basic_dsl("completion", version=version))
    assert code == 200, result
    assert result["status"] == status
    assert result["imported_dsl_version"] == imported
    assert result["app_mode"] == "completion"
    assert (await get_app(http, owner, result["app_id"]))["mode"] == "completion"


async def test_newer_version_waits_for_confirmation(
    http: httpx.AsyncClient, dsl_settings: Settings, dsl_app: FastAPI
) -> None:
    owner = await create_member(dsl_settings)
    before = await app_count(dsl_settings)
    code, pending = await import_content(http, owner, basic_dsl(version="0.7.0"), name="Later")
    assert code == 202, pending
    assert pending["status"] == "pending"
    assert pending["app_id"] is None and pending["app_mode"] is None
    assert pending["imported_dsl_version"] == "0.7.0"
    assert pending["current_dsl_version"] == "0.6.0"
    assert await app_count(dsl_settings) == before  # nothing created yet
    ttl = await dsl_app.state.ore.kv.ttl(dsl.PENDING_KEY_PREFIX + pending["id"])
    assert ttl is not None and 590 < ttl <= 600

    # Another workspace cannot confirm it.
    stranger = await create_member(dsl_settings)
    response = await http.post(f"{IMPORTS}/{pending['id']}/confirm", headers=stranger.headers)
    assert response.status_code == 400
    assert response.json()["error"] == "Import information expired or does not exist"

    response = await http.post(f"{IMPORTS}/{pending['id']}/confirm", headers=owner.headers)
    assert response.status_code == 200, response.text
    confirmed = response.json()
    assert confirmed["id"] == pending["id"]
    assert confirmed["status"] == "completed"
    assert confirmed["app_mode"] == "chat"
    assert confirmed["imported_dsl_version"] == "0.7.0"
    app = await get_app(http, owner, confirmed["app_id"])
    assert app["name"] == "Later"  # the override given with the import is kept

    # A confirmed import is gone.
    response = await http.post(f"{IMPORTS}/{pending['id']}/confirm", headers=owner.headers)
    assert response.status_code == 400
    assert response.json() == {
        "id": pending["id"],
        "status": "failed",
        "app_id": None,
        "app_mode": None,
        "current_dsl_version": "0.6.0",
        "imported_dsl_version": "",
        "error": "Import information expired or does not exist",
    }


async def test_a_double_confirmation_creates_one_app(
    http: httpx.AsyncClient, dsl_settings: Settings
) -> None:
    owner = await create_member(dsl_settings)
    code, pending = await import_content(http, owner, basic_dsl(version="0.7.0"))
    assert code == 202
    before = await app_count(dsl_settings)
    url = f"{IMPORTS}/{pending['id']}/confirm"
    answers = await asyncio.gather(*(http.post(url, headers=owner.headers) for _ in range(3)))
    assert sorted(answer.status_code for answer in answers) == [200, 400, 400]
    assert await app_count(dsl_settings) == (before[0] + 1, before[1] + 2)


async def test_expired_or_unknown_confirmation_fails(
    http: httpx.AsyncClient, dsl_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    owner = await create_member(dsl_settings)
    monkeypatch.setattr(dsl, "PENDING_IMPORT_TTL", 0.3)
    code, pending = await import_content(http, owner, basic_dsl(version="1.0.0"))
    assert code == 202, pending
    await asyncio.sleep(0.6)
    before = await app_count(dsl_settings)
    for import_id in (pending["id"], str(uuid.uuid4()), "not-an-id"):
        response = await http.post(f"{IMPORTS}/{import_id}/confirm", headers=owner.headers)
        assert response.status_code == 400
        assert response.json()["status"] == "failed"
        assert response.json()["error"] == "Import information expired or does not exist"
    assert await app_count(dsl_settings) == before


async def test_confirmed_graph_file_fails_clearly(
    http: httpx.AsyncClient, dsl_settings: Settings
) -> None:
    owner = await create_member(dsl_settings)
    document = graph_document("workflow")
    document["version"] = "0.7.0"
    code, pending = await import_content(http, owner, document)
    assert code == 202, pending
    response = await http.post(f"{IMPORTS}/{pending['id']}/confirm", headers=owner.headers)
    assert response.status_code == 400
    assert response.json()["error"] == dsl.GRAPH_APPS_NOT_SUPPORTED


@pytest.mark.parametrize("mode", ["workflow", "advanced-chat"])
async def test_graph_apps_are_refused_with_a_clear_error(
    http: httpx.AsyncClient, dsl_settings: Settings, mode: str
) -> None:
    owner = await create_member(dsl_settings)
    before = await app_count(dsl_settings)
    code, result = await import_content(http, owner, yaml.safe_dump(graph_document(mode)))
    assert code == 400, result
    assert result["status"] == "failed"
    assert result["error"] == dsl.GRAPH_APPS_NOT_SUPPORTED
    assert "workflow" in result["error"]
    assert await app_count(dsl_settings) == before


# --- import: failures ----------------------------------------------------------------------


async def test_failure_strings(http: httpx.AsyncClient, dsl_settings: Settings) -> None:
    owner = await create_member(dsl_settings)
    chat = await create_app(http, owner)
    workflow = await create_app(http, owner, mode="workflow")
    valid = as_yaml(basic_dsl())
    cases: list[tuple[dict[str, Any], str]] = [
        ({"mode": "yaml-url"}, "yaml_url is required when import_mode is yaml-url"),
        ({"mode": "yaml-url", "yaml_url": ""}, "yaml_url is required when import_mode is yaml-url"),
        ({"mode": "yaml-content"}, "yaml_content is required when import_mode is yaml-content"),
        (
            {"mode": "yaml-content", "yaml_content": ""},
            "yaml_content is required when import_mode is yaml-content",
        ),
        (
            {"mode": "yaml-content", "yaml_content": "a: " + "x" * (10 * 1024 * 1024)},
            "File size exceeds the limit of 10MB",
        ),
        (
            {"mode": "yaml-content", "yaml_content": "- a\n- b\n"},
            "Invalid YAML format: content must be a mapping",
        ),
        (
            {"mode": "yaml-content", "yaml_content": "version: 0.6.0\nkind: app\n"},
            "Missing app data in YAML content",
        ),
        (
            {"mode": "yaml-content", "yaml_content": valid, "app_id": str(uuid.uuid4())},
            "App not found",
        ),
        (
            {"mode": "yaml-content", "yaml_content": valid, "app_id": chat["id"]},
            "Only workflow or advanced chat apps can be overwritten",
        ),
        (
            {"mode": "yaml-content", "yaml_content": valid, "app_id": workflow["id"]},
            "A chat app cannot overwrite a workflow app",
        ),
        (
            {"mode": "yaml-content", "yaml_content": "version: 0.2\napp: {mode: chat}\n"},
            "Invalid version type, expected str, got float",
        ),
        (
            {"mode": "yaml-content", "yaml_content": as_yaml(basic_dsl("chatbot"))},
            "Invalid app mode: chatbot",
        ),
        (
            {"mode": "yaml-content", "yaml_content": as_yaml(basic_dsl(prompt_type="odd"))},
            "Invalid model_config: prompt_type must be in ['simple', 'advanced']",
        ),
        (
            {
                "mode": "yaml-content",
                "yaml_content": "version: 0.6.0\napp: {mode: chat, name: x}\n",
            },
            "Missing model_config for chat/agent-chat/completion app",
        ),
    ]
    before = await app_count(dsl_settings)
    for body, error in cases:
        code, result = await post_import(http, owner, **body)
        assert code == 400, (body.get("yaml_content", "")[:80], result)
        assert result["status"] == "failed"
        assert result["error"].startswith(error), (error, result["error"])
        assert result["app_id"] is None
    code, result = await post_import(http, owner, mode="yaml-content", yaml_content="a: [b")
    assert code == 400
    assert result["error"].startswith("Invalid YAML format: ")
    for content in ('app: {name: "x\ud800"}\n', "app: {name: x\ud800}\n"):
        code, result = await post_import(http, owner, mode="yaml-content", yaml_content=content)
        assert (code, result["error"][:20]) == (400, "Invalid YAML format:")
    # In an override the request parser refuses it before the import runs.
    code, result = await import_content(http, owner, basic_dsl(), name="bad \ud800 name")
    assert (code, result["code"]) == (400, "invalid_param")
    assert await app_count(dsl_settings) == before  # no failure left anything behind


async def test_unknown_import_mode_is_invalid_param(
    http: httpx.AsyncClient, dsl_settings: Settings
) -> None:
    owner = await create_member(dsl_settings)
    response = await http.post(
        IMPORTS, json={"mode": "yaml-file", "yaml_content": "a: b"}, headers=owner.headers
    )
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_param"
    assert response.json()["message"] == "Invalid import_mode: yaml-file"


# --- import from a URL ---------------------------------------------------------------------


async def test_yaml_url_is_fetched_through_the_guarded_client(
    http: httpx.AsyncClient, dsl_settings: Settings, file_server: FileServer
) -> None:
    owner = await create_member(dsl_settings)
    file_server.files["/apps/helper.yml"] = (200, as_yaml(basic_dsl()).encode())
    file_server.files["/empty.yml"] = (200, b"")
    file_server.files["/big.yml"] = (200, b"x" * (10 * 1024 * 1024 + 1))
    file_server.files["/latin1.yml"] = (200, "name: caf\xe9".encode("latin-1"))

    code, result = await post_import(
        http, owner, mode="yaml-url", yaml_url=file_server.url("/apps/helper.yml")
    )
    assert code == 200, result
    assert result["status"] == "completed"
    assert (await get_app(http, owner, result["app_id"]))["name"] == "Imported helper"

    failures = [
        ("/empty.yml", "Empty content from url"),
        ("/big.yml", "File size exceeds the limit of 10MB"),
        ("/missing.yml", "Error fetching YAML from URL: the server answered 404"),
        ("/latin1.yml", "Error fetching YAML from URL: the content is not UTF-8 text"),
    ]
    for path, error in failures:
        code, result = await post_import(
            http, owner, mode="yaml-url", yaml_url=file_server.url(path)
        )
        assert code == 400, result
        assert (result["status"], result["error"]) == ("failed", error)
    assert file_server.requests == ["/apps/helper.yml", *(path for path, _ in failures)]


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:{port}/apps/helper.yml",  # loopback, not on the allow-list
        "http://10.0.0.7/apps/helper.yml",  # a private address
        "http://169.254.169.254/latest/meta-data/",  # cloud metadata
        "file:///etc/passwd",
    ],
)
async def test_private_urls_are_refused(
    http: httpx.AsyncClient, dsl_settings: Settings, file_server: FileServer, url: str
) -> None:
    owner = await create_member(dsl_settings)
    file_server.files["/apps/helper.yml"] = (200, as_yaml(basic_dsl()).encode())
    before = await app_count(dsl_settings)
    code, result = await post_import(
        http, owner, mode="yaml-url", yaml_url=url.format(port=file_server.port)
    )
    assert code == 400, result
    assert result["status"] == "failed"
    assert result["error"].startswith("Error fetching YAML from URL: ")
    assert file_server.requests == []
    assert await app_count(dsl_settings) == before


# --- roles, workspaces, dependencies -------------------------------------------------------


async def test_normal_members_get_403(http: httpx.AsyncClient, dsl_settings: Settings) -> None:
    owner = await create_member(dsl_settings)
    normal = await create_member(dsl_settings, join=owner.tenant, role=TenantRole.NORMAL)
    editor = await create_member(dsl_settings, join=owner.tenant, role=TenantRole.EDITOR)
    chat = await create_app(http, owner)
    code, pending = await import_content(http, owner, basic_dsl(version="0.9.0"))
    assert code == 202
    routes = [
        ("POST", IMPORTS, {"mode": "yaml-content", "yaml_content": as_yaml(basic_dsl())}),
        ("POST", f"{IMPORTS}/{pending['id']}/confirm", None),
        ("GET", f"{IMPORTS}/{chat['id']}/check-dependencies", None),
        ("GET", f"{APPS}/{chat['id']}/export", None),
    ]
    for method, path, body in routes:
        response = await http.request(method, path, json=body, headers=normal.headers)
        assert response.status_code == 403, (method, path, response.text)
    # Editors may do all of it; the pending import is still there for them.
    for method, path, body in routes:
        response = await http.request(method, path, json=body, headers=editor.headers)
        assert response.status_code == 200, (method, path, response.text)


async def test_other_workspaces_apps_are_404(
    http: httpx.AsyncClient, dsl_settings: Settings
) -> None:
    a_owner = await create_member(dsl_settings, workspace_name="A")
    b_owner = await create_member(dsl_settings, workspace_name="B")
    a_chat = await create_app(http, a_owner, name="A's secret app")
    a_workflow = await create_app(http, a_owner, mode="workflow")
    for path in (f"{APPS}/{a_chat['id']}/export", f"{IMPORTS}/{a_chat['id']}/check-dependencies"):
        response = await http.get(path, headers=b_owner.headers)
        assert response.status_code == 404, (path, response.text)
        assert response.json()["code"] == "app_not_found"
        assert "A's secret app" not in response.text
    # Overwriting another workspace's app: as if it did not exist.
    code, result = await import_content(http, b_owner, basic_dsl(), app_id=a_workflow["id"])
    assert (code, result["error"]) == (400, "App not found")


async def test_check_dependencies_is_empty(http: httpx.AsyncClient, dsl_settings: Settings) -> None:
    owner = await create_member(dsl_settings)
    code, result = await import_content(http, owner, basic_dsl())
    assert code == 200
    response = await http.get(
        f"{IMPORTS}/{result['app_id']}/check-dependencies", headers=owner.headers
    )
    assert response.status_code == 200
    assert response.json() == {"leaked_dependencies": []}
    unknown = await http.get(f"{IMPORTS}/{uuid.uuid4()}/check-dependencies", headers=owner.headers)
    assert unknown.status_code == 404
