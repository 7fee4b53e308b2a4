"""Console apps: create, read, list (pages and filters), change, copy, delete, site, roles
and input errors (console spec section 8)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from sqlalchemy import delete, func, select

from ore.app_factory import create_app as create_ore_app
from ore.config import Settings
from ore.models import (
    App,
    AppApiKey,
    AppModelConfig,
    Conversation,
    DefaultModel,
    EndUser,
    Message,
    ProviderConfig,
    Site,
    TenantRole,
)
from tests.conftest import make_settings
from tests.factories import Member, create_member, db_session

APPS = "/console/api/apps"
LOCAL_CHAT_MODEL = "SmolLM2-135M-Instruct"


async def create_app(client: httpx.AsyncClient, member: Member, **fields: Any) -> dict[str, Any]:
    body = {"name": "Helper", "mode": "chat", **fields}
    response = await client.post(APPS, json=body, headers=member.headers)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def set_default_llm(
    settings: Settings, tenant_id: uuid.UUID, provider: str | None, model: str = ""
) -> None:
    """Make (provider, model) the workspace's default LLM, or remove the default (None);
    the ``local`` provider is configured either way."""
    async with db_session(settings) as session:
        await session.execute(
            delete(DefaultModel).where(
                DefaultModel.tenant_id == tenant_id, DefaultModel.model_type == "llm"
            )
        )
        has_local = await session.scalar(
            select(ProviderConfig.id).where(
                ProviderConfig.tenant_id == tenant_id,
                ProviderConfig.provider == "local",
                ProviderConfig.model_name.is_(None),
            )
        )
        if has_local is None:
            session.add(ProviderConfig(tenant_id=tenant_id, provider="local"))
        if provider is not None:
            session.add(
                DefaultModel(tenant_id=tenant_id, model_type="llm", provider=provider, model=model)
            )


async def test_create_chat_app_uses_the_workspace_default_llm(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    owner = await create_member(settings)
    await set_default_llm(settings, owner.tenant.id, "local", LOCAL_CHAT_MODEL)
    body = await create_app(
        client,
        owner,
        name="Helpdesk",
        description="Answers tickets",
        icon_type="emoji",
        icon="🤖",
        icon_background="#FFEAD5",
        model_config={"ignored": True},
    )
    assert body["name"] == "Helpdesk"
    assert body["mode"] == "chat"
    assert body["description"] == "Answers tickets"
    assert (body["icon"], body["icon_background"]) == ("🤖", "#FFEAD5")
    assert body["enable_site"] is True and body["enable_api"] is True
    assert body["created_by"] == str(owner.account.id)
    assert isinstance(body["created_at"], int) and isinstance(body["updated_at"], int)
    config = body["model_config"]
    assert config["model"] == {
        "provider": "langgenius/local/local",
        "name": LOCAL_CHAT_MODEL,
        "mode": "chat",
        "completion_params": {},
    }
    assert config["pre_prompt"] == "" and config["user_input_form"] == []
    assert config["prompt_type"] == "simple"
    assert config["file_upload"]["image"]["number_limits"] == 3
    assert "ignored" not in config

    async with db_session(settings) as session:
        app = await session.get(App, uuid.UUID(body["id"]))
        assert app is not None and app.tenant_id == owner.tenant.id
        site = await session.scalar(select(Site).where(Site.app_id == app.id))
        assert site is not None and len(site.code) == 16 and site.code.isalnum()
        assert site.title == "Helpdesk"
        stored = await session.get(AppModelConfig, app.app_model_config_id)
        assert stored is not None and stored.provider == "langgenius/local/local"


async def test_create_completion_app_without_default_falls_back_to_gpt_4o(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    owner = await create_member(settings)
    await set_default_llm(settings, owner.tenant.id, None)
    body = await create_app(client, owner, name="Writer", mode="completion")
    config = body["model_config"]
    assert config["model"]["provider"] == "langgenius/openai/openai"
    assert config["model"]["name"] == "gpt-4o"
    assert config["model"]["mode"] == "chat"
    assert config["pre_prompt"] == "{{query}}"
    assert config["user_input_form"] == [
        {"paragraph": {"label": "Query", "variable": "query", "required": True, "default": ""}}
    ]


@pytest.mark.parametrize("mode", ["workflow", "advanced-chat"])
async def test_graph_apps_have_no_model_config(
    client: httpx.AsyncClient, settings: Settings, mode: str
) -> None:
    owner = await create_member(settings)
    body = await create_app(client, owner, mode=mode)
    assert body["mode"] == mode
    assert body["model_config"] is None
    detail = (await client.get(f"{APPS}/{body['id']}", headers=owner.headers)).json()
    assert detail["site"]["code"]


async def test_get_app_with_site(client: httpx.AsyncClient, settings: Settings) -> None:
    owner = await create_member(settings)
    created = await create_app(client, owner, name="Shown", mode="agent-chat")
    response = await client.get(f"{APPS}/{created['id']}", headers=owner.headers)
    assert response.status_code == 200
    body = response.json()
    assert body["id"] == created["id"] and body["mode"] == "agent-chat"
    assert body["api_base_url"] == "http://testserver/v1"
    assert body["deleted_tools"] == [] and body["tags"] == []
    assert body["model_config"]["agent_mode"]["enabled"] is False
    site = body["site"]
    assert site["access_token"] == site["code"] and len(site["code"]) == 16
    assert site["title"] == "Shown"
    assert site["customize_token_strategy"] == "not_allow"
    assert site["default_language"] == "en-US"
    assert isinstance(site["created_at"], int)


async def test_unknown_and_malformed_ids_are_404(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    owner = await create_member(settings)
    response = await client.get(f"{APPS}/{uuid.uuid4()}", headers=owner.headers)
    assert response.status_code == 404
    assert response.json() == {"code": "app_not_found", "message": "App not found.", "status": 404}
    assert (await client.get(f"{APPS}/not-a-uuid", headers=owner.headers)).status_code == 404
    assert (await client.delete(f"{APPS}/12345", headers=owner.headers)).status_code == 404


async def test_list_pages_newest_first(client: httpx.AsyncClient, settings: Settings) -> None:
    owner = await create_member(settings)
    ids = [(await create_app(client, owner, name=f"App {n}"))["id"] for n in range(5)]
    first = (await client.get(APPS, params={"limit": 2}, headers=owner.headers)).json()
    assert (first["page"], first["limit"], first["total"], first["has_more"]) == (1, 2, 5, True)
    assert [item["id"] for item in first["data"]] == ids[::-1][:2]
    last = (await client.get(APPS, params={"page": 3, "limit": 2}, headers=owner.headers)).json()
    assert [item["id"] for item in last["data"]] == [ids[0]]
    assert last["has_more"] is False
    item = first["data"][0]
    assert item["name"] == "App 4" and item["workflow"] is None
    assert set(item["model_config"]) == {
        "model",
        "pre_prompt",
        "created_by",
        "created_at",
        "updated_by",
        "updated_at",
    }
    assert item["author_name"] == owner.account.name


async def test_list_filters_by_mode_and_name(client: httpx.AsyncClient, settings: Settings) -> None:
    owner = await create_member(settings)
    chat = await create_app(client, owner, name="Support Bot", mode="chat")
    await create_app(client, owner, name="support flow", mode="workflow")
    await create_app(client, owner, name="Writer", mode="completion")

    async def names(**params: str) -> list[str]:
        response = await client.get(APPS, params=params, headers=owner.headers)
        assert response.status_code == 200, response.text
        return sorted(item["name"] for item in response.json()["data"])

    assert await names(mode="all") == ["Support Bot", "Writer", "support flow"]
    assert await names(mode="chat") == ["Support Bot"]
    assert await names(name="SUPPORT") == ["Support Bot", "support flow"]
    assert await names(name="support", mode="workflow") == ["support flow"]
    assert await names(name="%") == []
    assert await names(mode="agent-chat") == []
    assert await names(tag_ids=str(uuid.uuid4())) == []
    only = (await client.get(APPS, params={"mode": "chat"}, headers=owner.headers)).json()
    assert only["total"] == 1 and only["data"][0]["id"] == chat["id"]


async def test_list_only_mine(client: httpx.AsyncClient, settings: Settings) -> None:
    owner = await create_member(settings)
    editor = await create_member(settings, join=owner.tenant, role=TenantRole.EDITOR)
    await create_app(client, owner, name="Owner's")
    await create_app(client, editor, name="Editor's")
    params = {"is_created_by_me": "true"}
    mine = (await client.get(APPS, params=params, headers=editor.headers)).json()
    assert [item["name"] for item in mine["data"]] == ["Editor's"] and mine["total"] == 1
    assert (await client.get(APPS, headers=editor.headers)).json()["total"] == 2


async def test_list_description_falls_back_to_the_prompt(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    owner = await create_member(settings)
    await create_app(client, owner, name="Writer", mode="completion")
    [item] = (await client.get(APPS, headers=owner.headers)).json()["data"]
    assert item["description"] == "{{query}}"


@pytest.mark.parametrize(
    "params",
    [
        {"limit": "101"},
        {"limit": "0"},
        {"page": "0"},
        {"mode": "chatbot"},
        {"page": "x"},
        {"tag_ids": "not-a-uuid"},
    ],
)
async def test_list_rejects_bad_parameters(
    client: httpx.AsyncClient, settings: Settings, params: dict[str, str]
) -> None:
    owner = await create_member(settings)
    response = await client.get(APPS, params=params, headers=owner.headers)
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_param"


@pytest.mark.parametrize(
    "body",
    [
        {"mode": "chat"},
        {"name": "", "mode": "chat"},
        {"name": "X", "mode": "bot"},
        {"name": "X"},
        {"name": "X", "mode": "chat", "description": "d" * 401},
        {"name": "X", "mode": "chat", "icon_type": "svg"},
        {"name": "n" * 256, "mode": "chat"},
    ],
)
async def test_create_rejects_bad_input(
    client: httpx.AsyncClient, settings: Settings, body: dict[str, Any]
) -> None:
    owner = await create_member(settings)
    response = await client.post(APPS, json=body, headers=owner.headers)
    assert response.status_code == 400, response.text
    assert response.json()["code"] == "invalid_param"
    async with db_session(settings) as session:
        assert await session.scalar(select(func.count()).select_from(App)) == 0


async def test_update_sets_every_field_and_resets_missing_ones(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    owner = await create_member(settings)
    created = await create_app(client, owner, description="Old", icon="🤖")
    url = f"{APPS}/{created['id']}"
    full = {
        "name": "New",
        "description": "Fresh",
        "icon_type": "emoji",
        "icon": "🦊",
        "icon_background": "#000000",
        "use_icon_as_answer_icon": True,
        "max_active_requests": 5,
    }
    body = (await client.put(url, json=full, headers=owner.headers)).json()
    assert body["name"] == "New" and body["description"] == "Fresh" and body["icon"] == "🦊"
    assert body["use_icon_as_answer_icon"] is True and body["max_active_requests"] == 5
    assert len(body["site"]["code"]) == 16

    reset = (await client.put(url, json={"name": "Bare"}, headers=owner.headers)).json()
    assert reset["name"] == "Bare" and reset["description"] == ""
    assert reset["icon"] is None and reset["use_icon_as_answer_icon"] is False
    assert reset["max_active_requests"] == 0
    missing = await client.put(url, json={"description": "no name"}, headers=owner.headers)
    assert missing.status_code == 400


async def test_small_update_routes(client: httpx.AsyncClient, settings: Settings) -> None:
    owner = await create_member(settings)
    created = await create_app(client, owner)
    url = f"{APPS}/{created['id']}"
    renamed = await client.post(f"{url}/name", json={"name": "Renamed"}, headers=owner.headers)
    assert renamed.status_code == 200 and renamed.json()["name"] == "Renamed"
    icon = await client.post(
        f"{url}/icon", json={"icon": "🐙", "icon_background": "#111111"}, headers=owner.headers
    )
    assert (icon.json()["icon"], icon.json()["icon_background"]) == ("🐙", "#111111")
    site = await client.post(
        f"{url}/site-enable", json={"enable_site": False}, headers=owner.headers
    )
    assert site.json()["enable_site"] is False
    api = await client.post(f"{url}/api-enable", json={"enable_api": False}, headers=owner.headers)
    assert api.json()["enable_api"] is False
    detail = (await client.get(url, headers=owner.headers)).json()
    assert (detail["name"], detail["enable_site"], detail["enable_api"]) == (
        "Renamed",
        False,
        False,
    )
    bad = await client.post(
        f"{url}/site-enable", json={"enable_site": "maybe"}, headers=owner.headers
    )
    assert bad.status_code == 400
    empty = await client.post(f"{url}/name", json={"name": ""}, headers=owner.headers)
    assert empty.status_code == 400


async def test_delete_removes_the_app_and_what_hangs_off_it(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    owner = await create_member(settings)
    created = await create_app(client, owner)
    app_id = uuid.UUID(created["id"])
    await client.post(f"{APPS}/{created['id']}/api-keys", headers=owner.headers)
    async with db_session(settings) as session:
        end_user = EndUser(
            tenant_id=owner.tenant.id, app_id=app_id, type="service-api", session_id="u1"
        )
        session.add(end_user)
        await session.flush()
        conversation = Conversation(
            tenant_id=owner.tenant.id,
            app_id=app_id,
            mode="chat",
            from_source="api",
            from_end_user_id=end_user.id,
        )
        session.add(conversation)
        await session.flush()
        session.add(
            Message(
                tenant_id=owner.tenant.id,
                app_id=app_id,
                conversation_id=conversation.id,
                query="hi",
                from_source="api",
                from_end_user_id=end_user.id,
            )
        )

    response = await client.delete(f"{APPS}/{created['id']}", headers=owner.headers)
    assert response.status_code == 204 and response.content == b""
    assert (await client.get(f"{APPS}/{created['id']}", headers=owner.headers)).status_code == 404
    async with db_session(settings) as session:
        for table in (App, AppModelConfig, Site, AppApiKey, EndUser, Conversation, Message):
            assert await session.scalar(select(func.count()).select_from(table)) == 0, table


async def test_copy_makes_an_independent_app(client: httpx.AsyncClient, settings: Settings) -> None:
    owner = await create_member(settings)
    original = await create_app(client, owner, name="Original", mode="completion", icon="🤖")
    response = await client.post(
        f"{APPS}/{original['id']}/copy", json={"name": "Copy"}, headers=owner.headers
    )
    assert response.status_code == 201, response.text
    copy = response.json()
    assert copy["id"] != original["id"] and copy["name"] == "Copy"
    assert copy["mode"] == "completion" and copy["icon"] == "🤖"
    assert copy["model_config"]["pre_prompt"] == "{{query}}"
    assert (
        copy["site"]["code"]
        != (await client.get(f"{APPS}/{original['id']}", headers=owner.headers)).json()["site"][
            "code"
        ]
    )

    default_name = await client.post(
        f"{APPS}/{original['id']}/copy", json={}, headers=owner.headers
    )
    assert default_name.json()["name"] == "Original"
    total = (await client.get(APPS, headers=owner.headers)).json()["total"]
    assert total == 3


async def test_site_settings_and_code_reset(client: httpx.AsyncClient, settings: Settings) -> None:
    owner = await create_member(settings)
    created = await create_app(client, owner)
    url = f"{APPS}/{created['id']}/site"
    response = await client.post(
        url,
        json={
            "title": "Public title",
            "default_language": "ja-JP",
            "customize_token_strategy": "allow",
            "copyright": "ACME",
            "prompt_public": True,
            "description": None,
        },
        headers=owner.headers,
    )
    assert response.status_code == 200, response.text
    site = response.json()
    assert site["app_id"] == created["id"]
    assert (site["title"], site["default_language"]) == ("Public title", "ja-JP")
    assert site["customize_token_strategy"] == "allow" and site["prompt_public"] is True
    assert site["copyright"] == "ACME" and site["description"] == ""

    bad_language = await client.post(url, json={"default_language": "xx-XX"}, headers=owner.headers)
    assert bad_language.status_code == 400
    bad_strategy = await client.post(
        url, json={"customize_token_strategy": "sometimes"}, headers=owner.headers
    )
    assert bad_strategy.status_code == 400

    reset = await client.post(f"{url}/access-token-reset", headers=owner.headers)
    assert reset.status_code == 200
    assert reset.json()["code"] != site["code"] and len(reset.json()["code"]) == 16
    assert reset.json()["title"] == "Public title"


async def test_roles(client: httpx.AsyncClient, settings: Settings) -> None:
    owner = await create_member(settings)
    editor = await create_member(settings, join=owner.tenant, role=TenantRole.EDITOR)
    normal = await create_member(settings, join=owner.tenant, role=TenantRole.NORMAL)
    created = await create_app(client, editor, name="By editor")
    url = f"{APPS}/{created['id']}"

    # Any member reads.
    assert (await client.get(APPS, headers=normal.headers)).json()["total"] == 1
    assert (await client.get(url, headers=normal.headers)).status_code == 200

    # Editor+ writes; a normal member gets 403 on each.
    writes = [
        ("POST", APPS, {"name": "X", "mode": "chat"}),
        ("PUT", url, {"name": "X"}),
        ("POST", f"{url}/copy", {}),
        ("POST", f"{url}/name", {"name": "X"}),
        ("POST", f"{url}/icon", {"icon": "x"}),
        ("POST", f"{url}/site-enable", {"enable_site": False}),
        ("POST", f"{url}/model-config", {}),
        ("POST", f"{url}/site", {"title": "X"}),
        ("DELETE", url, None),
    ]
    for method, path, body in writes:
        response = await client.request(method, path, json=body, headers=normal.headers)
        assert response.status_code == 403, (method, path)
        assert response.json()["code"] == "forbidden"

    # Admin/owner only, even for an editor.
    admin_only = [
        ("POST", f"{url}/api-enable", {"enable_api": False}),
        ("POST", f"{url}/site/access-token-reset", None),
    ]
    for method, path, body in admin_only:
        response = await client.request(method, path, json=body, headers=editor.headers)
        assert response.status_code == 403, (method, path)
        assert (
            await client.request(method, path, json=body, headers=owner.headers)
        ).status_code == 200

    assert (await client.delete(url, headers=editor.headers)).status_code == 204


async def test_requires_login(client: httpx.AsyncClient, settings: Settings) -> None:
    await create_member(settings)
    assert (await client.get(APPS)).status_code == 401
    assert (await client.post(APPS, json={"name": "X", "mode": "chat"})).status_code == 401


async def test_api_base_url_follows_service_api_url(
    database_url: str, tmp_path: Path, _clean_tables: None
) -> None:
    settings = make_settings(database_url, tmp_path, SERVICE_API_URL="https://api.example.com/")
    application = create_ore_app(settings)
    async with LifespanManager(application, startup_timeout=60, shutdown_timeout=60):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            owner = await create_member(settings)
            created = await create_app(client, owner)
            detail = await client.get(f"{APPS}/{created['id']}", headers=owner.headers)
    assert detail.json()["api_base_url"] == "https://api.example.com/v1"
