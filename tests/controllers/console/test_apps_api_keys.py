"""App API keys: shown once, listed masked, at most ten, roles, Dify's abort-shaped errors,
and authentication for the Service API."""

from __future__ import annotations

import re
import uuid

import httpx
from sqlalchemy import select, update

from ore.config import Settings
from ore.models import App, AppApiKey, TenantRole
from ore.services import app_keys
from ore.services.tokens import token_digest
from tests.controllers.console.test_apps import APPS, create_app
from tests.factories import create_member, db_session

TOKEN_SHAPE = re.compile(r"^app-[A-Za-z0-9]{24}$")


async def test_create_shows_the_token_once_and_the_list_masks_it(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    owner = await create_member(settings)
    app = await create_app(client, owner)
    keys_url = f"{APPS}/{app['id']}/api-keys"
    created = []
    for _ in range(2):
        response = await client.post(keys_url, headers=owner.headers)
        assert response.status_code == 201, response.text
        created.append(response.json())
    first = created[0]
    assert set(first) == {"id", "type", "token", "last_used_at", "created_at"}
    assert first["type"] == "app" and TOKEN_SHAPE.match(first["token"])
    assert first["last_used_at"] is None and isinstance(first["created_at"], int)
    assert created[1]["token"] != first["token"]

    listed = await client.get(keys_url, headers=owner.headers)
    assert listed.status_code == 200
    data = listed.json()["data"]
    assert [item["id"] for item in data] == [key["id"] for key in created]
    for item, key in zip(data, created, strict=True):
        assert item["token"] == f"{key['token'][:8]}…{key['token'][-4:]}"
        assert key["token"] not in listed.text

    async with db_session(settings) as session:
        rows = (await session.scalars(select(AppApiKey))).all()
    assert {row.token_hash for row in rows} == {token_digest(key["token"]) for key in created}
    for row in rows:
        assert row.app_id == uuid.UUID(app["id"]) and row.tenant_id == owner.tenant.id


async def test_at_most_ten_keys_per_app(client: httpx.AsyncClient, settings: Settings) -> None:
    owner = await create_member(settings)
    app = await create_app(client, owner)
    other = await create_app(client, owner, name="Other")
    keys_url = f"{APPS}/{app['id']}/api-keys"
    for _ in range(app_keys.MAX_KEYS):
        assert (await client.post(keys_url, headers=owner.headers)).status_code == 201
    response = await client.post(keys_url, headers=owner.headers)
    assert response.status_code == 400
    assert response.json() == {
        "message": "Cannot create more than 10 API keys for this resource type.",
        "custom": "max_keys_exceeded",
    }
    # The limit is per app.
    other_url = f"{APPS}/{other['id']}/api-keys"
    assert (await client.post(other_url, headers=owner.headers)).status_code == 201


async def test_delete_and_its_errors(client: httpx.AsyncClient, settings: Settings) -> None:
    owner = await create_member(settings)
    app = await create_app(client, owner)
    other = await create_app(client, owner, name="Other")
    keys_url = f"{APPS}/{app['id']}/api-keys"
    key = (await client.post(keys_url, headers=owner.headers)).json()

    unknown = await client.delete(f"{keys_url}/{uuid.uuid4()}", headers=owner.headers)
    assert unknown.status_code == 404
    assert unknown.json() == {"message": "API key not found"}
    # A key is reached only through its own app.
    wrong_app = await client.delete(
        f"{APPS}/{other['id']}/api-keys/{key['id']}", headers=owner.headers
    )
    assert wrong_app.status_code == 404

    deleted = await client.delete(f"{keys_url}/{key['id']}", headers=owner.headers)
    assert deleted.status_code == 204 and deleted.content == b""
    assert (await client.get(keys_url, headers=owner.headers)).json() == {"data": []}
    async with db_session(settings) as session:
        assert await app_keys.authenticate_app_key(session, key["token"]) is None


async def test_unknown_app_uses_the_abort_shape(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    owner = await create_member(settings)
    response = await client.get(f"{APPS}/{uuid.uuid4()}/api-keys", headers=owner.headers)
    assert response.status_code == 404
    assert response.json() == {"message": "App not found."}
    create = await client.post(f"{APPS}/{uuid.uuid4()}/api-keys", headers=owner.headers)
    assert create.status_code == 404


async def test_roles(client: httpx.AsyncClient, settings: Settings) -> None:
    owner = await create_member(settings)
    editor = await create_member(settings, join=owner.tenant, role=TenantRole.EDITOR)
    normal = await create_member(settings, join=owner.tenant, role=TenantRole.NORMAL)
    app = await create_app(client, owner)
    keys_url = f"{APPS}/{app['id']}/api-keys"

    assert (await client.post(keys_url, headers=normal.headers)).status_code == 403
    key = (await client.post(keys_url, headers=editor.headers)).json()
    assert (await client.get(keys_url, headers=normal.headers)).status_code == 200
    for member in (normal, editor):
        response = await client.delete(f"{keys_url}/{key['id']}", headers=member.headers)
        assert response.status_code == 403
    assert (
        await client.delete(f"{keys_url}/{key['id']}", headers=owner.headers)
    ).status_code == 204


async def test_authenticate_app_key(client: httpx.AsyncClient, settings: Settings) -> None:
    owner = await create_member(settings)
    app = await create_app(client, owner)
    token = (await client.post(f"{APPS}/{app['id']}/api-keys", headers=owner.headers)).json()[
        "token"
    ]
    async with db_session(settings) as session:
        found = await app_keys.authenticate_app_key(session, token)
        assert found is not None
        found_app, tenant = found
        assert str(found_app.id) == app["id"] and tenant.id == owner.tenant.id
        for wrong in (token[:-1], token + "x", token[:-1] + ("A" if token[-1] != "A" else "B")):
            assert await app_keys.authenticate_app_key(session, wrong) is None
        assert await app_keys.authenticate_app_key(session, "dataset-" + token[4:]) is None

    listed = (await client.get(f"{APPS}/{app['id']}/api-keys", headers=owner.headers)).json()
    assert isinstance(listed["data"][0]["last_used_at"], int)

    # A disabled API still authenticates: the Service API answers with Dify's 403 itself.
    async with db_session(settings) as session:
        await session.execute(update(App).values(enable_api=False))
    async with db_session(settings) as session:
        found = await app_keys.authenticate_app_key(session, token)
        assert found is not None and found[0].enable_api is False


async def test_a_streaming_route_reads_the_key_and_records_its_use_once_a_minute(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    owner = await create_member(settings)
    app = await create_app(client, owner)
    keys_url = f"{APPS}/{app['id']}/api-keys"
    token = (await client.post(keys_url, headers=owner.headers)).json()["token"]
    stop = "/v1/chat-messages/some-task/stop"  # a route whose app key is read read-only
    body = {"user": "caller"}

    async def last_used() -> object:
        async with db_session(settings) as session:
            return await session.scalar(select(AppApiKey.last_used_at))

    bad = await client.post(stop, json=body, headers={"Authorization": f"Bearer {token}x"})
    assert bad.status_code == 401 and await last_used() is None
    ok = await client.post(stop, json=body, headers={"Authorization": f"Bearer {token}"})
    assert ok.status_code == 200, ok.text
    first = await last_used()
    assert first is not None
    again = await client.post(stop, json=body, headers={"Authorization": f"Bearer {token}"})
    assert again.status_code == 200 and await last_used() == first  # within the minute

    async with db_session(settings) as session:
        await session.execute(update(App).values(enable_api=False))
    refused = await client.post(stop, json=body, headers={"Authorization": f"Bearer {token}"})
    assert refused.status_code == 403
    assert refused.json()["message"] == "The app's API service has been disabled."
