"""Tenant isolation of gateway keys: workspace B neither sees nor revokes A's keys."""

from __future__ import annotations

import uuid

import httpx
from sqlalchemy import select

from ore.config import Settings
from ore.models import GatewayKey, TenantAccountJoin, TenantRole
from ore.services import gateway_keys
from tests.factories import create_member, db_session

KEYS = "/console/api/workspaces/current/gateway-keys"


async def test_other_workspace_keys_are_invisible_and_unchanged(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    a_owner = await create_member(settings, workspace_name="Workspace A")
    b_owner = await create_member(settings, workspace_name="Workspace B")
    a_keys = [(await client.post(KEYS, headers=a_owner.headers)).json() for _ in range(2)]
    b_key = (await client.post(KEYS, headers=b_owner.headers)).json()
    async with db_session(settings) as session:
        before = {
            row.id: (row.token_hash, row.revoked_at, row.last_used_at)
            for row in await session.scalars(select(GatewayKey))
        }

    listed = await client.get(KEYS, headers=b_owner.headers)
    assert [item["id"] for item in listed.json()["data"]] == [b_key["id"]]
    for key in a_keys:
        response = await client.delete(f"{KEYS}/{key['id']}", headers=b_owner.headers)
        assert response.status_code == 404
        assert key["id"] not in response.text

    async with db_session(settings) as session:
        after = {
            row.id: (row.token_hash, row.revoked_at, row.last_used_at)
            for row in await session.scalars(select(GatewayKey))
        }
        assert after == before
        # Each key authenticates for its own workspace only.
        for key in a_keys:
            tenant = await gateway_keys.authenticate_gateway_key(session, key["token"])
            assert tenant == a_owner.tenant.id
        tenant = await gateway_keys.authenticate_gateway_key(session, b_key["token"])
        assert tenant == b_owner.tenant.id

    a_listed = await client.get(KEYS, headers=a_owner.headers)
    assert sorted(item["id"] for item in a_listed.json()["data"]) == sorted(
        key["id"] for key in a_keys
    )


async def test_admin_of_two_workspaces_acts_in_the_current_one_only(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    a_owner = await create_member(settings, workspace_name="Workspace A")
    a_key = (await client.post(KEYS, headers=a_owner.headers)).json()
    both = await create_member(settings, workspace_name="Workspace B")
    async with db_session(settings) as session:
        # Also an admin of A, but B stays the current workspace.
        session.add(
            TenantAccountJoin(
                tenant_id=a_owner.tenant.id,
                account_id=both.account.id,
                role=TenantRole.ADMIN,
                current=False,
            )
        )

    assert (await client.get(KEYS, headers=both.headers)).json()["data"] == []
    response = await client.delete(f"{KEYS}/{a_key['id']}", headers=both.headers)
    assert response.status_code == 404
    created = (await client.post(KEYS, headers=both.headers)).json()
    async with db_session(settings) as session:
        row = await session.get(GatewayKey, uuid.UUID(a_key["id"]))
        assert row is not None and row.revoked_at is None
        new_row = await session.get(GatewayKey, uuid.UUID(created["id"]))
        assert new_row is not None and new_row.tenant_id == both.tenant.id
