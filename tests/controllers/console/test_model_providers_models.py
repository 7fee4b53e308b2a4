"""Models on the console (spec section 7): per-model credentials, the model lists, switches,
load balancing, parameter rules and default models, on a real OpenAI-compatible upstream."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from fastapi import FastAPI

from ore.config import Settings
from ore.models import TenantRole
from ore.services import model_providers
from tests.factories import Member, create_member, db_session
from tests.processes import free_port

PROVIDERS = "/console/api/workspaces/current/model-providers"
PROVIDER = "openai_api_compatible"
MODELS = f"{PROVIDERS}/langgenius/{PROVIDER}/{PROVIDER}/models"
MODEL_CREDENTIALS = f"{MODELS}/credentials"
MODEL = "SmolLM2-135M-Instruct"
SECRET = "sk-model-secret-0123456789abcdefXYZ"
DEFAULT_MODEL = "/console/api/workspaces/current/default-model"


def creds(url: str, key: str = SECRET) -> dict[str, str]:
    return {"api_key": key, "base_url": url}


def ref(**extra: Any) -> dict[str, Any]:
    return {"model": MODEL, "model_type": "llm", **extra}


class Caller:
    """One member's requests; every body is kept to prove the secret never appears."""

    def __init__(self, client: httpx.AsyncClient, member: Member) -> None:
        self.client = client
        self.member = member
        self.bodies: list[str] = []

    async def __call__(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        response = await self.client.request(method, url, headers=self.member.headers, **kwargs)
        self.bodies.append(response.text)
        return response

    def assert_secret_never_shown(self) -> None:
        assert all(SECRET not in body and SECRET[6:-2] not in body for body in self.bodies)


async def add_model_credential(call: Caller, url: str, name: str) -> str:
    body = ref(credentials=creds(url), name=name)
    response = await call("POST", MODEL_CREDENTIALS, json=body)
    assert response.status_code == 201, response.text
    shown = await call("GET", MODEL_CREDENTIALS, params=ref())
    [found] = [c for c in shown.json()["available_credentials"] if c["credential_name"] == name]
    return str(found["credential_id"])


async def listed_model(call: Caller) -> dict[str, Any] | None:
    response = await call("GET", MODELS)
    assert response.status_code == 200, response.text
    found = [m for m in response.json()["data"] if m["model"] == MODEL]
    return found[0] if found else None


async def models_of_type(call: Caller, model_type: str) -> dict[str, list[str]]:
    response = await call("GET", f"/console/api/workspaces/current/models/model-types/{model_type}")
    assert response.status_code == 200, response.text
    return {p["provider"]: [m["model"] for m in p["models"]] for p in response.json()["data"]}


async def test_model_credential_makes_the_model_active_everywhere(
    client: httpx.AsyncClient, settings: Settings, local_openai_url: str
) -> None:
    owner = await create_member(settings)
    call = Caller(client, owner)
    assert await listed_model(call) is None
    assert PROVIDER not in await models_of_type(call, "llm")

    credential_id = await add_model_credential(call, local_openai_url, "smol")
    shown = (await call("GET", MODEL_CREDENTIALS, params=ref())).json()
    assert shown["current_credential_id"] == credential_id
    assert shown["current_credential_name"] == "smol"
    assert shown["credentials"]["base_url"] == local_openai_url
    assert shown["credentials"]["api_key"].startswith(SECRET[:6])
    assert shown["load_balancing"] == {"enabled": False, "configs": []}

    model = await listed_model(call)
    assert model is not None
    assert model["status"] == "active"
    assert model["fetch_from"] == "customizable-model"
    assert model["provider"]["provider"] == PROVIDER
    assert model["provider"]["tenant_id"] == str(owner.tenant.id)
    for spelling in ("llm", "text-generation"):
        assert MODEL in (await models_of_type(call, spelling))[PROVIDER]
    assert PROVIDER not in await models_of_type(call, "embeddings")
    assert (await models_of_type(call, "tts")) == {}

    providers = (await call("GET", PROVIDERS)).json()["data"]
    [entry] = [p for p in providers if p["provider"] == PROVIDER]
    [custom] = entry["custom_configuration"]["custom_models"]
    assert custom["model"] == MODEL and custom["current_credential_id"] == credential_id
    assert custom["available_model_credentials"] == [
        {"credential_id": credential_id, "credential_name": "smol"}
    ]
    call.assert_secret_never_shown()


async def test_model_credentials_validate_update_switch_delete(
    client: httpx.AsyncClient, settings: Settings, local_openai_url: str
) -> None:
    owner = await create_member(settings)
    call = Caller(client, owner)
    closed = f"http://127.0.0.1:{free_port()}/v1"
    refused = await call("POST", MODEL_CREDENTIALS, json=ref(credentials=creds(closed)))
    assert refused.status_code == 400 and refused.json()["code"] == "invalid_param"
    checked = await call(
        "POST", f"{MODEL_CREDENTIALS}/validate", json=ref(credentials=creds(closed))
    )
    assert checked.status_code == 200 and checked.json()["result"] == "error"
    good = ref(credentials=creds(local_openai_url))
    assert (await call("POST", f"{MODEL_CREDENTIALS}/validate", json=good)).json() == {
        "result": "success"
    }

    first = await add_model_credential(call, local_openai_url, "one")
    second = await add_model_credential(call, local_openai_url, "two")
    hidden = {"api_key": "[__HIDDEN__]", "base_url": local_openai_url}
    put = ref(credential_id=second, credentials=hidden, name="two-renamed")
    assert (await call("PUT", MODEL_CREDENTIALS, json=put)).status_code == 200
    async with db_session(settings) as session:
        row = await model_providers.credential_by_id(
            session, owner.tenant.id, PROVIDER, uuid.UUID(second)
        )
        assert row.name == "two-renamed"
        opened = await model_providers.open_credential(session, settings.SECRET_KEY, row)
        assert opened["api_key"] == SECRET

    switch = await call("POST", f"{MODEL_CREDENTIALS}/switch", json=ref(credential_id=second))
    assert switch.json() == {"result": "success"}
    shown = (await call("GET", MODEL_CREDENTIALS, params=ref())).json()
    assert shown["current_credential_id"] == second
    by_id = await call("GET", MODEL_CREDENTIALS, params=ref(credential_id=first))
    assert by_id.status_code == 200 and by_id.json()["credentials"]["base_url"] == local_openai_url

    gone = await call("DELETE", MODEL_CREDENTIALS, json=ref(credential_id=second))
    assert gone.status_code == 204 and gone.content == b""
    shown = (await call("GET", MODEL_CREDENTIALS, params=ref())).json()
    assert shown["current_credential_id"] == first
    # A provider-level route does not reach a model's credential.
    provider_switch = await call(
        "POST", f"{PROVIDERS}/{PROVIDER}/credentials/switch", json={"credential_id": first}
    )
    assert provider_switch.status_code == 404
    call.assert_secret_never_shown()


async def test_disable_enable_and_delete_a_model(
    client: httpx.AsyncClient, settings: Settings, local_openai_url: str
) -> None:
    owner = await create_member(settings)
    call = Caller(client, owner)
    # Dify up to 1.7: POST models with the model's credentials.
    saved = await call("POST", MODELS, json=ref(credentials=creds(local_openai_url)))
    assert saved.status_code == 200 and saved.json() == {"result": "success"}
    assert (await listed_model(call) or {})["status"] == "active"

    assert (await call("PATCH", f"{MODELS}/disable", json=ref())).json() == {"result": "success"}
    assert (await listed_model(call) or {})["status"] == "disabled"
    assert PROVIDER not in await models_of_type(call, "llm")
    assert (await call("PATCH", f"{MODELS}/enable", json=ref())).status_code == 200
    assert (await listed_model(call) or {})["status"] == "active"

    deleted = await call("DELETE", MODELS, json=ref())
    assert deleted.status_code == 204 and deleted.content == b""
    assert await listed_model(call) is None
    assert (await call("GET", MODEL_CREDENTIALS, params=ref())).json()[
        "available_credentials"
    ] == []
    call.assert_secret_never_shown()


async def test_load_balancing_through_the_models_body(
    app: FastAPI, client: httpx.AsyncClient, settings: Settings, local_openai_url: str
) -> None:
    owner = await create_member(settings)
    call = Caller(client, owner)
    first = await add_model_credential(call, local_openai_url, "one")
    configs = [
        {"name": "one", "credential_id": first, "enabled": True},
        {"name": "extra", "credentials": creds(local_openai_url), "enabled": False},
        {"name": "__inherit__", "enabled": True},
    ]
    body = ref(load_balancing={"enabled": True, "configs": configs}, credential_id=first)
    response = await call("POST", MODELS, json=body)
    assert response.status_code == 200, response.text

    balancing = (await call("GET", MODEL_CREDENTIALS, params=ref())).json()["load_balancing"]
    assert balancing["enabled"] is True
    assert [(c["name"], c["enabled"]) for c in balancing["configs"]] == [
        ("one", True),
        ("extra", False),
        ("__inherit__", True),
    ]
    assert balancing["configs"][0]["credential_id"] == first
    assert balancing["configs"][2]["credential_id"] is None
    assert all(c["in_cooldown"] is False for c in balancing["configs"])
    runtime = app.state.ore.models
    key = model_providers.pool_key(owner.tenant.id, PROVIDER, MODEL, "llm")
    await runtime.pool(key, []).cool_down(first)
    balancing = (await call("GET", MODEL_CREDENTIALS, params=ref())).json()["load_balancing"]
    assert [c["in_cooldown"] for c in balancing["configs"]] == [True, False, False]
    assert (await listed_model(call) or {})["load_balancing_enabled"] is True

    stranger = await create_member(settings)
    theirs = await add_model_credential(Caller(client, stranger), local_openai_url, "theirs")
    foreign = ref(
        load_balancing={"enabled": True, "configs": [{"name": "x", "credential_id": theirs}]}
    )
    assert (await call("POST", MODELS, json=foreign)).status_code == 404
    empty = ref(load_balancing={"enabled": True, "configs": [{"name": "nothing"}]})
    assert (await call("POST", MODELS, json=empty)).status_code == 400
    call.assert_secret_never_shown()


async def test_parameter_rules(client: httpx.AsyncClient, settings: Settings) -> None:
    owner = await create_member(settings)
    call = Caller(client, owner)
    response = await call(
        "GET",
        f"{PROVIDERS}/local/models/parameter-rules",
        params={"model": "SmolLM2-135M-Instruct"},
    )
    assert response.status_code == 200
    rules = {r["name"]: r for r in response.json()["data"]}
    assert rules["temperature"]["use_template"] == "temperature"
    assert rules["temperature"]["min"] == 0 and rules["temperature"]["max"] == 2
    assert rules["max_tokens"]["type"] == "int"
    assert set(rules["temperature"]) >= {
        "label",
        "help",
        "required",
        "default",
        "precision",
        "options",
    }
    assert (await call("GET", f"{PROVIDERS}/local/models/parameter-rules")).status_code == 400


async def test_default_model(
    client: httpx.AsyncClient, settings: Settings, local_openai_url: str
) -> None:
    owner = await create_member(settings)
    call = Caller(client, owner)
    assert (await call("GET", DEFAULT_MODEL, params={"model_type": "tts"})).json() == {"data": None}
    wanted = {"model_type": "llm", "provider": f"langgenius/{PROVIDER}/{PROVIDER}", "model": MODEL}
    unconfigured = await call("POST", DEFAULT_MODEL, json={"model_settings": [wanted]})
    assert unconfigured.status_code == 400
    assert unconfigured.json()["code"] == "provider_not_initialize"

    await add_model_credential(call, local_openai_url, "smol")
    skipped = {"model_type": "text-embedding", "provider": None, "model": None}
    saved = await call("POST", DEFAULT_MODEL, json={"model_settings": [wanted, skipped]})
    assert saved.json() == {"result": "success"}, saved.text
    data = (await call("GET", DEFAULT_MODEL, params={"model_type": "llm"})).json()["data"]
    assert data["model"] == MODEL and data["model_type"] == "llm"
    assert data["provider"]["provider"] == PROVIDER
    assert data["provider"]["tenant_id"] == str(owner.tenant.id)

    unknown = {"model_type": "llm", "provider": "local", "model": "no-such-model"}
    assert (
        await call("POST", DEFAULT_MODEL, json={"model_settings": [unknown]})
    ).status_code == 400
    stranger = await create_member(settings)
    theirs = await Caller(client, stranger)("GET", DEFAULT_MODEL, params={"model_type": "llm"})
    assert (theirs.json()["data"] or {}).get("provider", {}).get("provider") != PROVIDER
    member = await create_member(settings, join=owner.tenant, role=TenantRole.NORMAL)
    forbidden = await Caller(client, member)(
        "POST", DEFAULT_MODEL, json={"model_settings": [wanted]}
    )
    assert forbidden.status_code == 403
    call.assert_secret_never_shown()


async def test_model_routes_are_isolated_and_role_checked(
    client: httpx.AsyncClient, settings: Settings, local_openai_url: str
) -> None:
    owner = await create_member(settings)
    credential_id = await add_model_credential(Caller(client, owner), local_openai_url, "mine")
    stranger = Caller(client, await create_member(settings))
    assert await listed_model(stranger) is None
    assert PROVIDER not in await models_of_type(stranger, "llm")
    lookup = await stranger("GET", MODEL_CREDENTIALS, params=ref(credential_id=credential_id))
    assert lookup.status_code == 404
    for method, path in (
        ("POST", f"{MODEL_CREDENTIALS}/switch"),
        ("DELETE", MODEL_CREDENTIALS),
        ("POST", MODELS),
    ):
        response = await stranger(method, path, json=ref(credential_id=credential_id))
        assert response.status_code == 404, (method, path, response.text)
    stranger.assert_secret_never_shown()

    member = Caller(
        client, await create_member(settings, join=owner.tenant, role=TenantRole.NORMAL)
    )
    assert (await member("GET", MODEL_CREDENTIALS, params=ref())).status_code == 200
    for method, path in (
        ("POST", MODEL_CREDENTIALS),
        ("PUT", MODEL_CREDENTIALS),
        ("DELETE", MODEL_CREDENTIALS),
        ("POST", f"{MODEL_CREDENTIALS}/switch"),
        ("PATCH", f"{MODELS}/enable"),
        ("PATCH", f"{MODELS}/disable"),
        ("POST", MODELS),
        ("DELETE", MODELS),
    ):
        body = ref(credential_id=credential_id, credentials=creds(local_openai_url))
        response = await member(method, path, json=body)
        assert response.status_code == 403, (method, path, response.text)
    member.assert_secret_never_shown()


async def test_bad_model_input_is_a_400(client: httpx.AsyncClient, settings: Settings) -> None:
    call = Caller(client, await create_member(settings))
    cases: list[tuple[str, str, dict[str, Any] | None, dict[str, str] | None]] = [
        ("GET", "/console/api/workspaces/current/models/model-types/bogus", None, None),
        ("GET", DEFAULT_MODEL, None, {"model_type": "bogus"}),
        ("GET", DEFAULT_MODEL, None, None),
        ("POST", MODEL_CREDENTIALS, ref(model_type="bogus", credentials={}), None),
        ("POST", MODEL_CREDENTIALS, {"model_type": "llm", "credentials": {}}, None),
        ("POST", f"{PROVIDERS}/local/models/credentials", ref(model="nope", credentials={}), None),
        ("PATCH", f"{PROVIDERS}/local/models/disable", ref(model="nope"), None),
        ("GET", f"{PROVIDERS}/nobody/models", None, None),
        ("POST", DEFAULT_MODEL, {"model_settings": [{"model_type": "bogus"}]}, None),
        (
            "POST",
            DEFAULT_MODEL,
            {"model_settings": [{"model_type": "llm", "provider": "local"}]},
            None,
        ),
    ]
    for method, path, body, params in cases:
        response = await call(method, path, json=body, params=params)
        assert response.status_code == 400, (method, path, response.text)
