"""Provider credentials on the console (spec section 7): named credentials (Dify 1.8+), the
single credential of Dify up to 1.7, masking, [__HIDDEN__], roles and isolation.

Credentials are validated by a real call: the working upstream is `ore models serve-local`
(``local_openai_url``); failures come from the scripted server or a closed port.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from ore.config import Settings
from ore.models import TenantRole
from ore.services import model_providers
from tests.factories import Member, create_member, db_session
from tests.processes import free_port
from tests.upstreams import ScriptedServer, error

PROVIDERS = "/console/api/workspaces/current/model-providers"
PROVIDER = "openai_api_compatible"
PLUGIN_ID = f"langgenius/{PROVIDER}/{PROVIDER}"
CREDENTIALS = f"{PROVIDERS}/{PROVIDER}/credentials"
SECRET = "sk-ore-test-0123456789abcdefSECRET"


def creds(url: str, key: str = SECRET) -> dict[str, str]:
    return {"api_key": key, "base_url": url}


class Recorder:
    """Sends requests for one member and keeps every response body, to prove no secret
    ever appears in any of them."""

    def __init__(self, client: httpx.AsyncClient, member: Member) -> None:
        self.client = client
        self.member = member
        self.bodies: list[str] = []

    async def __call__(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        response = await self.client.request(method, url, headers=self.member.headers, **kwargs)
        self.bodies.append(response.text)
        return response

    def assert_never_shown(self, *secrets: str) -> None:
        for secret in secrets:
            for body in self.bodies:
                assert secret not in body
                assert secret[6:-2] not in body  # not even the middle of it


async def provider_entry(call: Recorder, provider: str = PROVIDER) -> dict[str, Any]:
    response = await call("GET", PROVIDERS)
    assert response.status_code == 200, response.text
    [entry] = [p for p in response.json()["data"] if p["provider"] == provider]
    return entry


async def stored(settings: Settings, member: Member, credential_id: str) -> dict[str, Any]:
    async with db_session(settings) as session:
        row = await model_providers.credential_by_id(
            session, member.tenant.id, PROVIDER, uuid.UUID(credential_id)
        )
        return await model_providers.open_credential(session, settings.SECRET_KEY, row)


async def add(call: Recorder, url: str, name: str, key: str = SECRET) -> str:
    response = await call("POST", CREDENTIALS, json={"credentials": creds(url, key), "name": name})
    assert response.status_code == 201, response.text
    assert response.json() == {"result": "success"}
    entry = await provider_entry(call)
    [found] = [
        c
        for c in entry["custom_configuration"]["available_credentials"]
        if c["credential_name"] == name
    ]
    return str(found["credential_id"])


async def test_create_lists_the_provider_and_masks_the_secret(
    client: httpx.AsyncClient, settings: Settings, local_openai_url: str
) -> None:
    owner = await create_member(settings)
    call = Recorder(client, owner)
    before = await provider_entry(call)
    assert before["custom_configuration"]["status"] == "no-configure"

    credential_id = await add(call, local_openai_url, "main")
    entry = await provider_entry(call)
    config = entry["custom_configuration"]
    assert config["status"] == "active"
    assert config["current_credential_id"] == credential_id
    assert config["current_credential_name"] == "main"
    assert entry["system_configuration"] == {
        "enabled": False,
        "current_quota_type": None,
        "quota_configurations": [],
    }
    assert entry["tenant_id"] == str(owner.tenant.id)
    assert entry["icon_small"]["en_US"].endswith(
        f"/console/api/workspaces/{owner.tenant.id}/model-providers/{PROVIDER}/icon_small/en_US"
    )
    assert "customizable-model" in entry["configurate_methods"]
    fields = entry["provider_credential_schema"]["credential_form_schemas"]
    assert {f["variable"]: f["type"] for f in fields}["api_key"] == "secret-input"

    for path in (CREDENTIALS, f"{PROVIDERS}/{PLUGIN_ID}/credentials"):
        shown = (await call("GET", path)).json()["credentials"]
        assert shown["base_url"] == local_openai_url
        assert shown["api_key"] != SECRET and shown["api_key"].startswith(SECRET[:6])
    by_id = await call("GET", CREDENTIALS, params={"credential_id": credential_id})
    assert by_id.json()["credentials"]["base_url"] == local_openai_url

    assert (await stored(settings, owner, credential_id))["api_key"] == SECRET
    filtered = await call("GET", PROVIDERS, params={"model_type": "rerank"})
    assert PROVIDER not in {p["provider"] for p in filtered.json()["data"]}
    call.assert_never_shown(SECRET)


async def test_failing_credentials_are_refused_with_the_providers_message(
    client: httpx.AsyncClient,
    settings: Settings,
    scripted_server: ScriptedServer,
    local_openai_url: str,
) -> None:
    owner = await create_member(settings)
    call = Recorder(client, owner)
    scripted_server.queue(error(401, "Incorrect API key provided: sk-bad."))
    refused = await call(
        "POST", CREDENTIALS, json={"credentials": creds(scripted_server.url + "/v1", "sk-bad-key")}
    )
    assert refused.status_code == 400
    assert refused.json()["code"] == "invalid_param"
    assert "Incorrect API key provided" in refused.json()["message"]

    closed = f"http://127.0.0.1:{free_port()}/v1"
    unreachable = await call("POST", CREDENTIALS, json={"credentials": creds(closed)})
    assert unreachable.status_code == 400
    assert unreachable.json()["message"]
    assert (await provider_entry(call))["custom_configuration"]["status"] == "no-configure"

    checked = await call("POST", f"{CREDENTIALS}/validate", json={"credentials": creds(closed)})
    assert checked.status_code == 200
    assert checked.json()["result"] == "error" and checked.json()["error"]
    good = {"credentials": creds(local_openai_url)}
    assert (await call("POST", f"{CREDENTIALS}/validate", json=good)).json() == {
        "result": "success"
    }
    call.assert_never_shown(SECRET)


async def test_hidden_keeps_the_stored_secret_and_put_renames(
    client: httpx.AsyncClient, settings: Settings, local_openai_url: str
) -> None:
    owner = await create_member(settings)
    call = Recorder(client, owner)
    credential_id = await add(call, local_openai_url, "first")

    hidden = {"api_key": "[__HIDDEN__]", "base_url": local_openai_url}
    body = {"credential_id": credential_id, "credentials": hidden, "name": "renamed"}
    assert (await call("PUT", CREDENTIALS, json=body)).status_code == 200
    assert (await stored(settings, owner, credential_id))["api_key"] == SECRET
    names = (await provider_entry(call))["custom_configuration"]["available_credentials"]
    assert [n["credential_name"] for n in names] == ["renamed"]

    closed = f"http://127.0.0.1:{free_port()}/v1"
    broken = {"credential_id": credential_id, "credentials": {**hidden, "base_url": closed}}
    assert (await call("PUT", CREDENTIALS, json=broken)).status_code == 400
    assert (await stored(settings, owner, credential_id))["base_url"] == local_openai_url

    other = "sk-ore-test-another-key-987654321"
    body = {"credential_id": credential_id, "credentials": creds(local_openai_url, other)}
    assert (await call("PUT", CREDENTIALS, json=body)).status_code == 200
    assert (await stored(settings, owner, credential_id))["api_key"] == other
    call.assert_never_shown(SECRET, other)


async def test_switch_and_delete_move_the_current_credential(
    client: httpx.AsyncClient, settings: Settings, local_openai_url: str
) -> None:
    owner = await create_member(settings)
    call = Recorder(client, owner)
    first = await add(call, local_openai_url, "a")
    second = await add(call, local_openai_url, "b")

    async def current() -> str | None:
        config = (await provider_entry(call))["custom_configuration"]
        return config["current_credential_id"]  # type: ignore[no-any-return]

    assert await current() == first
    switched = await call("POST", f"{CREDENTIALS}/switch", json={"credential_id": second})
    assert switched.json() == {"result": "success"}
    assert await current() == second

    deleted = await call("DELETE", CREDENTIALS, json={"credential_id": second})
    assert deleted.status_code == 204 and deleted.content == b""
    assert await current() == first
    again = await call("DELETE", CREDENTIALS, json={"credential_id": second})
    assert again.status_code == 404
    assert (await call("DELETE", CREDENTIALS, json={"credential_id": first})).status_code == 204
    entry = await provider_entry(call)
    assert entry["custom_configuration"]["status"] == "no-configure"
    assert entry["custom_configuration"]["available_credentials"] == []


async def test_legacy_single_credential_routes(
    client: httpx.AsyncClient, settings: Settings, local_openai_url: str
) -> None:
    owner = await create_member(settings)
    call = Recorder(client, owner)
    path = f"{PROVIDERS}/{PLUGIN_ID}"
    saved = await call("POST", path, json={"credentials": creds(local_openai_url)})
    assert saved.status_code == 201, saved.text
    replaced = await call(
        "POST",
        path,
        json={"credentials": {"api_key": "[__HIDDEN__]", "base_url": local_openai_url}},
    )
    assert replaced.status_code == 201
    config = (await provider_entry(call))["custom_configuration"]
    assert len(config["available_credentials"]) == 1
    assert (await stored(settings, owner, config["current_credential_id"]))["api_key"] == SECRET

    removed = await call("DELETE", path)
    assert removed.status_code == 204 and removed.content == b""
    assert (await provider_entry(call))["custom_configuration"]["status"] == "no-configure"
    assert (await call("GET", CREDENTIALS)).json() == {"credentials": None}
    call.assert_never_shown(SECRET)


async def test_writes_need_admin_or_owner(
    client: httpx.AsyncClient, settings: Settings, local_openai_url: str
) -> None:
    owner = await create_member(settings)
    credential_id = await add(Recorder(client, owner), local_openai_url, "main")
    for role in (TenantRole.NORMAL, TenantRole.EDITOR):
        member = await create_member(settings, join=owner.tenant, role=role)
        call = Recorder(client, member)
        assert (await call("GET", PROVIDERS)).status_code == 200
        assert (await call("GET", CREDENTIALS)).status_code == 200
        check = {"credentials": creds(local_openai_url)}
        assert (await call("POST", f"{CREDENTIALS}/validate", json=check)).status_code == 200
        ref = {"credential_id": credential_id}
        writes: list[tuple[str, str, dict[str, Any] | None]] = [
            ("POST", CREDENTIALS, check),
            ("PUT", CREDENTIALS, {**check, **ref}),
            ("DELETE", CREDENTIALS, ref),
            ("POST", f"{CREDENTIALS}/switch", ref),
            (
                "POST",
                f"{PROVIDERS}/{PROVIDER}/preferred-provider-type",
                {"preferred_provider_type": "custom"},
            ),
            ("POST", f"{PROVIDERS}/{PROVIDER}", check),
            ("DELETE", f"{PROVIDERS}/{PROVIDER}", None),
        ]
        for method, path, body in writes:
            response = await call(method, path, json=body)
            assert response.status_code == 403, (role, method, path, response.text)
        call.assert_never_shown(SECRET)
    entry = await provider_entry(Recorder(client, owner))
    assert entry["custom_configuration"]["current_credential_id"] == credential_id


async def test_another_workspace_cannot_see_or_touch_a_credential(
    client: httpx.AsyncClient, settings: Settings, local_openai_url: str
) -> None:
    owner = await create_member(settings)
    credential_id = await add(Recorder(client, owner), local_openai_url, "mine")
    stranger = await create_member(settings)
    call = Recorder(client, stranger)

    entry = await provider_entry(call)
    assert entry["custom_configuration"]["status"] == "no-configure"
    assert entry["custom_configuration"]["available_credentials"] == []
    ref = {"credential_id": credential_id}
    got = await call("GET", CREDENTIALS, params=ref)
    assert got.status_code == 404
    assert (await call("POST", f"{CREDENTIALS}/switch", json=ref)).status_code == 404
    put = {**ref, "credentials": creds(local_openai_url)}
    assert (await call("PUT", CREDENTIALS, json=put)).status_code == 404
    assert (await call("DELETE", CREDENTIALS, json=ref)).status_code == 404
    assert (await call("GET", CREDENTIALS)).json() == {"credentials": None}
    call.assert_never_shown(SECRET)
    assert (await stored(settings, owner, credential_id))["api_key"] == SECRET


async def test_bad_input_is_a_400(
    client: httpx.AsyncClient, settings: Settings, local_openai_url: str
) -> None:
    owner = await create_member(settings)
    call = Recorder(client, owner)
    good = {"credentials": creds(local_openai_url)}
    cases: list[tuple[str, str, dict[str, Any] | None, dict[str, str] | None]] = [
        ("GET", f"{PROVIDERS}/no-such-provider/credentials", None, None),
        ("POST", f"{PROVIDERS}/acme/no-such/provider/credentials", good, None),
        ("GET", PROVIDERS, None, {"model_type": "bogus"}),
        ("POST", CREDENTIALS, {**good, "name": "x" * 31}, None),
        ("POST", CREDENTIALS, {"name": "no credentials"}, None),
        ("PUT", CREDENTIALS, {**good, "credential_id": "not-a-uuid"}, None),
        ("GET", CREDENTIALS, None, {"credential_id": "nope"}),
        ("POST", CREDENTIALS, {"credentials": creds("http://[::1")}, None),
        ("POST", CREDENTIALS, {"credentials": creds(local_openai_url, "[__HIDDEN__]")}, None),
        (
            "POST",
            f"{PROVIDERS}/{PROVIDER}/preferred-provider-type",
            {"preferred_provider_type": "hosted"},
            None,
        ),
    ]
    for method, path, body, params in cases:
        response = await call(method, path, json=body, params=params)
        assert response.status_code == 400, (method, path, response.text)
        assert response.json()["code"] in ("invalid_param", "bad_request")
    await add(call, local_openai_url, "taken")
    duplicate = await call("POST", CREDENTIALS, json={**good, "name": "taken"})
    assert duplicate.status_code == 400
    malformed = {"credentials": creds("http://[::1")}
    checked = await call("POST", f"{CREDENTIALS}/validate", json=malformed)
    assert checked.json()["result"] == "error" and "URL" in checked.json()["error"]
    empty = await call("GET", PROVIDERS, params={"model_type": "tts"})
    assert empty.json() == {"data": []}
    icon = await client.get(
        f"/console/api/workspaces/{owner.tenant.id}/model-providers/{PROVIDER}/icon_small/en_US"
    )
    assert icon.status_code == 404 and icon.json()["code"] == "not_found"


async def test_preferred_provider_type_is_stored(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    owner = await create_member(settings)
    call = Recorder(client, owner)
    path = f"{PROVIDERS}/{PLUGIN_ID}/preferred-provider-type"
    response = await call("POST", path, json={"preferred_provider_type": "system"})
    assert response.json() == {"result": "success"}
    assert (await provider_entry(call))["preferred_provider_type"] == "system"
