"""Gateway keys: create (shown once), masked list, revoke, roles, limits, authentication."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select, update

from ore.config import Settings
from ore.models import GatewayKey, Tenant, TenantRole, TenantStatus, utcnow
from ore.services import gateway_keys
from ore.services.tokens import token_digest
from tests.factories import Member, create_member, db_session

KEYS = "/console/api/workspaces/current/gateway-keys"
TOKEN_SHAPE = re.compile(r"^gw-[A-Za-z0-9_-]{48}$")


async def create_key(client: httpx.AsyncClient, member: Member) -> dict[str, str]:
    response = await client.post(KEYS, headers=member.headers)
    assert response.status_code == 201, response.text
    body: dict[str, str] = response.json()
    return body


async def stored_keys(settings: Settings, tenant_id: uuid.UUID) -> list[GatewayKey]:
    async with db_session(settings) as session:
        rows = await session.scalars(select(GatewayKey).where(GatewayKey.tenant_id == tenant_id))
        return list(rows.all())


async def test_create_returns_the_token_once_and_stores_its_digest(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    owner = await create_member(settings)
    body = await create_key(client, owner)
    assert set(body) == {"id", "token"}
    assert TOKEN_SHAPE.match(body["token"])

    [row] = await stored_keys(settings, owner.tenant.id)
    assert str(row.id) == body["id"]
    assert row.token_hash == token_digest(body["token"])
    assert body["token"] not in (row.token_hash, row.prefix, row.suffix)
    assert row.created_by == owner.account.id
    assert row.revoked_at is None

    second = await create_key(client, owner)
    assert second["token"] != body["token"]


async def test_list_is_masked_and_never_contains_a_token(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    owner = await create_member(settings)
    tokens = [(await create_key(client, owner))["token"] for _ in range(3)]

    response = await client.get(KEYS, headers=owner.headers)
    assert response.status_code == 200
    data = response.json()["data"]
    assert len(data) == 3
    for token in tokens:
        assert token not in response.text
        assert token[8:-4] not in response.text  # not even the middle of one
    for item in data:
        assert set(item) == {"id", "token", "created_at", "last_used_at"}
        assert re.fullmatch(r"gw-[A-Za-z0-9_-]{4}…[A-Za-z0-9_-]{4}", item["token"])
        assert isinstance(item["created_at"], int)
        assert item["last_used_at"] is None
    masks = {item["token"] for item in data}
    assert masks == {f"{t[:7]}…{t[-4:]}" for t in tokens}


async def test_delete_revokes_and_hides_the_key(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    owner = await create_member(settings)
    kept = await create_key(client, owner)
    gone = await create_key(client, owner)

    response = await client.delete(f"{KEYS}/{gone['id']}", headers=owner.headers)
    assert response.status_code == 204
    assert response.content == b""

    listed = (await client.get(KEYS, headers=owner.headers)).json()["data"]
    assert [item["id"] for item in listed] == [kept["id"]]
    again = await client.delete(f"{KEYS}/{gone['id']}", headers=owner.headers)
    assert again.status_code == 404
    assert again.json()["code"] == "not_found"

    async with db_session(settings) as session:
        assert await gateway_keys.authenticate_gateway_key(session, gone["token"]) is None
        tenant = await gateway_keys.authenticate_gateway_key(session, kept["token"])
    assert tenant == owner.tenant.id


@pytest.mark.parametrize(
    "role", [TenantRole.NORMAL, TenantRole.EDITOR, TenantRole.DATASET_OPERATOR]
)
async def test_non_admin_roles_are_forbidden(
    client: httpx.AsyncClient, settings: Settings, role: TenantRole
) -> None:
    owner = await create_member(settings)
    existing = await create_key(client, owner)
    member = await create_member(settings, join=owner.tenant, role=role)

    assert (await client.post(KEYS, headers=member.headers)).status_code == 403
    assert (await client.get(KEYS, headers=member.headers)).status_code == 403
    deleted = await client.delete(f"{KEYS}/{existing['id']}", headers=member.headers)
    assert deleted.status_code == 403
    assert deleted.json()["code"] == "forbidden"
    [row] = await stored_keys(settings, owner.tenant.id)
    assert row.revoked_at is None


async def test_admin_may_manage_keys(client: httpx.AsyncClient, settings: Settings) -> None:
    owner = await create_member(settings)
    admin = await create_member(settings, join=owner.tenant, role=TenantRole.ADMIN)
    created = await create_key(client, admin)
    listed = (await client.get(KEYS, headers=owner.headers)).json()["data"]
    assert [item["id"] for item in listed] == [created["id"]]
    response = await client.delete(f"{KEYS}/{created['id']}", headers=admin.headers)
    assert response.status_code == 204


async def test_anonymous_is_unauthorized(client: httpx.AsyncClient, settings: Settings) -> None:
    await create_member(settings)
    assert (await client.post(KEYS)).status_code == 401
    assert (await client.get(KEYS)).status_code == 401


@pytest.mark.parametrize("key_id", ["not-a-uuid", "123", str(uuid.uuid4())])
async def test_delete_bad_or_unknown_id_is_404(
    client: httpx.AsyncClient, settings: Settings, key_id: str
) -> None:
    owner = await create_member(settings)
    await create_key(client, owner)
    response = await client.delete(f"{KEYS}/{key_id}", headers=owner.headers)
    assert response.status_code == 404
    [row] = await stored_keys(settings, owner.tenant.id)
    assert row.revoked_at is None


async def test_live_key_cap(client: httpx.AsyncClient, settings: Settings) -> None:
    owner = await create_member(settings)
    async with db_session(settings) as session:
        for _ in range(gateway_keys.MAX_LIVE_KEYS - 1):
            await gateway_keys.create_gateway_key(session, owner.tenant.id, owner.account.id)
    last = await create_key(client, owner)

    refused = await client.post(KEYS, headers=owner.headers)
    assert refused.status_code == 400
    assert refused.json()["code"] == "gateway_key_limit_exceeded"
    assert "50" in refused.json()["message"]

    # A revoked key frees its place.
    assert (await client.delete(f"{KEYS}/{last['id']}", headers=owner.headers)).status_code == 204
    await create_key(client, owner)
    assert len(await stored_keys(settings, owner.tenant.id)) == gateway_keys.MAX_LIVE_KEYS + 1


@pytest.mark.parametrize(
    "token",
    ["", "gw-", "gw-short", "sk-" + "a" * 48, "gw-" + "a" * 48, "gw-" + "a" * 49, "Bearer x"],
)
async def test_authenticate_refuses_unknown_tokens(settings: Settings, token: str) -> None:
    await create_member(settings)
    async with db_session(settings) as session:
        assert await gateway_keys.authenticate_gateway_key(session, token) is None


async def test_authenticate_records_last_use_and_ignores_archived_workspaces(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    owner = await create_member(settings)
    created = await create_key(client, owner)
    async with db_session(settings) as session:
        tenant = await gateway_keys.authenticate_gateway_key(session, created["token"])
    assert tenant == owner.tenant.id
    [row] = await stored_keys(settings, owner.tenant.id)
    assert row.last_used_at is not None
    listed = (await client.get(KEYS, headers=owner.headers)).json()["data"]
    assert listed[0]["last_used_at"] == int(row.last_used_at.timestamp())

    # Within a minute the use is not written again; after it, it is.
    async with db_session(settings) as session:
        await gateway_keys.authenticate_gateway_key(session, created["token"])
    assert (await stored_keys(settings, owner.tenant.id))[0].last_used_at == row.last_used_at
    earlier = utcnow() - timedelta(minutes=5)
    async with db_session(settings) as session:
        await session.execute(update(GatewayKey).values(last_used_at=earlier))
    async with db_session(settings) as session:
        await gateway_keys.authenticate_gateway_key(session, created["token"])
    later = (await stored_keys(settings, owner.tenant.id))[0].last_used_at
    assert later is not None and later > earlier + timedelta(minutes=4)

    async with db_session(settings) as session:
        await session.execute(
            update(Tenant).where(Tenant.id == owner.tenant.id).values(status=TenantStatus.ARCHIVE)
        )
    async with db_session(settings) as session:
        assert await gateway_keys.authenticate_gateway_key(session, created["token"]) is None
