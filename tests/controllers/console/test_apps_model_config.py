"""POST /apps/{id}/model-config: validated against the workspace's models, stored as a new
version, unknown keys dropped (console spec section 8)."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import delete, func, select

from ore.config import Settings
from ore.models import AppModelConfig, ProviderConfig
from tests.controllers.console.test_apps import APPS, LOCAL_CHAT_MODEL, create_app, set_default_llm
from tests.factories import Member, create_member, db_session


def config_body(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": {
            "provider": "local",
            "name": LOCAL_CHAT_MODEL,
            "completion_params": {"temperature": 0.2, "stop": ["###"]},
        },
        "pre_prompt": "You are {{role}}.",
        "user_input_form": [
            {"text-input": {"label": "Role", "variable": "role", "required": True}}
        ],
        "opening_statement": "Hello!",
        "suggested_questions": ["What can you do?"],
        "retriever_resource": {"enabled": True},
    }
    body.update(changes)
    return body


async def chat_app(client: httpx.AsyncClient, settings: Settings) -> tuple[Member, str]:
    owner = await create_member(settings)
    await set_default_llm(settings, owner.tenant.id, "local", LOCAL_CHAT_MODEL)
    app = await create_app(client, owner)
    return owner, f"{APPS}/{app['id']}"


async def test_saves_a_new_version_with_defaults(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    owner, url = await chat_app(client, settings)
    body = config_body(unknown_key={"x": 1})
    response = await client.post(f"{url}/model-config", json=body, headers=owner.headers)
    assert response.status_code == 200, response.text
    assert response.json() == {"result": "success"}

    config = (await client.get(url, headers=owner.headers)).json()["model_config"]
    assert config["model"] == {
        "provider": "langgenius/local/local",
        "name": LOCAL_CHAT_MODEL,
        "mode": "chat",
        "completion_params": {"temperature": 0.2, "stop": ["###"]},
    }
    assert config["pre_prompt"] == "You are {{role}}."
    assert config["opening_statement"] == "Hello!"
    assert config["suggested_questions"] == ["What can you do?"]
    assert config["retriever_resource"] == {"enabled": True}
    assert config["more_like_this"] == {"enabled": False}
    assert config["dataset_configs"] == {"retrieval_model": "multiple"}
    assert "unknown_key" not in config
    async with db_session(settings) as session:
        count = await session.scalar(select(func.count()).select_from(AppModelConfig))
    assert count == 2  # the default config and this one


async def test_plugin_ids_are_accepted_and_stop_defaults_to_empty(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    owner, url = await chat_app(client, settings)
    body = config_body(
        model={
            "provider": "langgenius/local/local",
            "name": LOCAL_CHAT_MODEL,
            "completion_params": {},
        }
    )
    response = await client.post(f"{url}/model-config", json=body, headers=owner.headers)
    assert response.status_code == 200, response.text
    config = (await client.get(url, headers=owner.headers)).json()["model_config"]
    assert config["model"]["completion_params"] == {"stop": []}


async def test_provider_must_be_configured(client: httpx.AsyncClient, settings: Settings) -> None:
    owner, url = await chat_app(client, settings)
    for provider in ("openai", "nope", None):
        body = config_body(model={"provider": provider, "name": "gpt-4o", "completion_params": {}})
        response = await client.post(f"{url}/model-config", json=body, headers=owner.headers)
        assert response.status_code == 400
        error = response.json()
        assert error["code"] == "invalid_param"
        assert error["message"] == (
            "model.provider is required and must be in ['langgenius/local/local']"
        )

    # Without the local provider, nothing is configured at all.
    async with db_session(settings) as session:
        await session.execute(
            delete(ProviderConfig).where(ProviderConfig.tenant_id == owner.tenant.id)
        )
    response = await client.post(f"{url}/model-config", json=config_body(), headers=owner.headers)
    assert response.status_code == 400
    assert response.json()["message"] == "model.provider is required and must be in []"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"model": "local"}, "model must be of object type"),
        (
            {"model": {"provider": "local", "completion_params": {}}},
            "model.name is required",
        ),
        (
            {"model": {"provider": "local", "name": "gpt-4o", "completion_params": {}}},
            "model.name must be in the specified model list",
        ),
        (
            {"model": {"provider": "local", "name": "all-MiniLM-L6-v2", "completion_params": {}}},
            "model.name must be in the specified model list",
        ),
        (
            {"model": {"provider": "local", "name": LOCAL_CHAT_MODEL}},
            "model.completion_params is required",
        ),
        (
            {
                "model": {
                    "provider": "local",
                    "name": LOCAL_CHAT_MODEL,
                    "completion_params": {"stop": "###"},
                }
            },
            "stop in model.completion_params must be of list type",
        ),
        (
            {
                "model": {
                    "provider": "local",
                    "name": LOCAL_CHAT_MODEL,
                    "completion_params": {"stop": ["a", "b", "c", "d", "e"]},
                }
            },
            "stop in model.completion_params must be less than 4",
        ),
        ({"prompt_type": "fancy"}, "prompt_type must be in ['simple', 'advanced']"),
        ({"suggested_questions": "one"}, "suggested_questions must be of list type"),
        (
            {"more_like_this": {"enabled": "yes"}},
            "enabled in more_like_this must be of boolean type",
        ),
    ],
)
async def test_invalid_configs_are_refused(
    client: httpx.AsyncClient, settings: Settings, changes: dict[str, Any], message: str
) -> None:
    owner, url = await chat_app(client, settings)
    response = await client.post(
        f"{url}/model-config", json=config_body(**changes), headers=owner.headers
    )
    assert response.status_code == 400, response.text
    assert response.json() == {"code": "invalid_param", "message": message, "status": 400}
    async with db_session(settings) as session:
        assert await session.scalar(select(func.count()).select_from(AppModelConfig)) == 1


async def test_not_json_object_is_400(client: httpx.AsyncClient, settings: Settings) -> None:
    owner, url = await chat_app(client, settings)
    response = await client.post(f"{url}/model-config", json=[1, 2], headers=owner.headers)
    assert response.status_code == 400


async def test_nan_is_400_not_a_storage_error(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    owner, url = await chat_app(client, settings)
    model = json.dumps({"provider": "local", "name": LOCAL_CHAT_MODEL})
    raw = '{"model": ' + model[:-1] + ', "completion_params": {"temperature": NaN}}}'
    response = await client.post(
        f"{url}/model-config",
        content=raw,
        headers={**owner.headers, "Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert response.json()["message"] == "The model config may not contain NaN or Infinity."


@pytest.mark.parametrize("mode", ["workflow", "advanced-chat"])
async def test_graph_apps_have_no_model_config_route(
    client: httpx.AsyncClient, settings: Settings, mode: str
) -> None:
    owner = await create_member(settings)
    app = await create_app(client, owner, mode=mode)
    response = await client.post(
        f"{APPS}/{app['id']}/model-config", json=config_body(), headers=owner.headers
    )
    assert response.status_code == 404
    assert response.json()["code"] == "app_not_found"
    assert "not in the supported list" in response.json()["message"]


async def test_unknown_app(client: httpx.AsyncClient, settings: Settings) -> None:
    owner = await create_member(settings)
    response = await client.post(
        f"{APPS}/{uuid.uuid4()}/model-config", json=config_body(), headers=owner.headers
    )
    assert response.status_code == 404
    assert response.json()["code"] == "app_not_found"
