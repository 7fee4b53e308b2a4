"""Tenant isolation: from workspace B, nobody reads or changes workspace A's data.

One test per endpoint of the workspace, member and invitation routes. Each sets up
workspace A (owner, members, a pending invitee) and workspace B (its own owner), acts from
B on A's ids, and checks both the answer and that A's data is unchanged.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlalchemy import select

from ore.config import Settings
from ore.models import Account, Tenant, TenantAccountJoin, TenantRole
from tests.factories import Member, create_member, db_session

API = "/console/api"
MEMBERS = f"{API}/workspaces/current/members"


@dataclass
class World:
    a_owner: Member
    a_member: Member
    a_operator: Member
    a_pending_id: uuid.UUID
    a_token: str
    b_owner: Member

    @property
    def a_ids(self) -> list[uuid.UUID]:
        return [
            self.a_owner.account.id,
            self.a_member.account.id,
            self.a_operator.account.id,
            self.a_pending_id,
        ]


@pytest.fixture
async def world(client: httpx.AsyncClient, settings: Settings) -> World:
    a_owner = await create_member(settings, workspace_name="Workspace A")
    a_member = await create_member(settings, join=a_owner.tenant, role=TenantRole.NORMAL)
    a_operator = await create_member(
        settings, join=a_owner.tenant, role=TenantRole.DATASET_OPERATOR
    )
    invited = await client.post(
        f"{MEMBERS}/invite-email",
        json={"emails": ["a-pending@example.com"], "role": "editor"},
        headers=a_owner.headers,
    )
    url = invited.json()["invitation_results"][0]["url"]
    b_owner = await create_member(settings, workspace_name="Workspace B")
    async with db_session(settings) as session:
        pending_id = await session.scalar(
            select(Account.id).where(Account.email == "a-pending@example.com")
        )
    assert pending_id is not None
    return World(
        a_owner=a_owner,
        a_member=a_member,
        a_operator=a_operator,
        a_pending_id=pending_id,
        a_token=parse_qs(urlsplit(url).query)["token"][0],
        b_owner=b_owner,
    )


async def a_snapshot(settings: Settings, world: World) -> dict[str, Any]:
    """Workspace A as stored: its name and every membership with its role."""
    async with db_session(settings) as session:
        tenant = await session.get(Tenant, world.a_owner.tenant.id)
        assert tenant is not None
        joins = await session.execute(
            select(TenantAccountJoin.account_id, TenantAccountJoin.role).where(
                TenantAccountJoin.tenant_id == tenant.id
            )
        )
        return {"name": tenant.name, "members": sorted((str(a), r) for a, r in joins)}


async def a_invitation_is_open(client: httpx.AsyncClient, world: World) -> bool:
    response = await client.get(f"{API}/activate/check", params={"token": world.a_token})
    return bool(response.json()["is_valid"])


async def test_list_workspaces(client: httpx.AsyncClient, world: World) -> None:
    response = await client.get(f"{API}/workspaces", headers=world.b_owner.headers)
    ids = [w["id"] for w in response.json()["workspaces"]]
    assert ids == [str(world.b_owner.tenant.id)]


async def test_create_workspace(
    client: httpx.AsyncClient, settings: Settings, world: World
) -> None:
    before = await a_snapshot(settings, world)
    response = await client.post(
        f"{API}/workspaces", json={"name": "B two"}, headers=world.b_owner.headers
    )
    assert response.status_code == 201
    assert response.json()["id"] != str(world.a_owner.tenant.id)
    assert await a_snapshot(settings, world) == before
    a_list = await client.get(f"{API}/workspaces", headers=world.a_owner.headers)
    assert [w["name"] for w in a_list.json()["workspaces"]] == ["Workspace A"]


@pytest.mark.parametrize("path", ["/workspaces/current", "/info"])
async def test_current_workspace(client: httpx.AsyncClient, world: World, path: str) -> None:
    response = await client.post(f"{API}{path}", headers=world.b_owner.headers)
    assert response.json()["id"] == str(world.b_owner.tenant.id)
    assert response.json()["name"] == "Workspace B"


async def test_switch_into_another_workspace(client: httpx.AsyncClient, world: World) -> None:
    response = await client.post(
        f"{API}/workspaces/switch",
        json={"tenant_id": str(world.a_owner.tenant.id)},
        headers=world.b_owner.headers,
    )
    assert response.status_code == 403
    assert response.json()["code"] == "account_not_link_tenant"
    current = await client.post(f"{API}/workspaces/current", headers=world.b_owner.headers)
    assert current.json()["id"] == str(world.b_owner.tenant.id)


async def test_rename(client: httpx.AsyncClient, settings: Settings, world: World) -> None:
    before = await a_snapshot(settings, world)
    response = await client.post(
        f"{API}/workspaces/info", json={"name": "Renamed B"}, headers=world.b_owner.headers
    )
    assert response.status_code == 200
    assert response.json()["tenant"]["id"] == str(world.b_owner.tenant.id)
    assert await a_snapshot(settings, world) == before


async def test_list_members(client: httpx.AsyncClient, world: World) -> None:
    response = await client.get(MEMBERS, headers=world.b_owner.headers)
    assert [m["id"] for m in response.json()["accounts"]] == [str(world.b_owner.account.id)]


async def test_list_dataset_operators(client: httpx.AsyncClient, world: World) -> None:
    response = await client.get(
        f"{API}/workspaces/current/dataset-operators", headers=world.b_owner.headers
    )
    assert response.json()["accounts"] == []


async def test_invite_a_members_email(
    client: httpx.AsyncClient, settings: Settings, world: World
) -> None:
    before = await a_snapshot(settings, world)
    response = await client.post(
        f"{MEMBERS}/invite-email",
        json={
            "emails": [world.a_member.account.email, "a-pending@example.com"],
            "role": "admin",
        },
        headers=world.b_owner.headers,
    )
    assert response.status_code == 201
    body = response.json()
    assert body["tenant_id"] == str(world.b_owner.tenant.id)
    # Being a member of A does not make them a member of B: both get a B invitation link.
    assert all("/activate?" in r["url"] for r in body["invitation_results"])
    assert await a_snapshot(settings, world) == before
    assert await a_invitation_is_open(client, world)


async def test_update_role_of_a_member_of_another_workspace(
    client: httpx.AsyncClient, settings: Settings, world: World
) -> None:
    before = await a_snapshot(settings, world)
    for member_id in world.a_ids:
        response = await client.put(
            f"{MEMBERS}/{member_id}/update-role",
            json={"role": "admin"},
            headers=world.b_owner.headers,
        )
        assert response.status_code == 404
        assert response.json()["code"] == "member-not-found"
    assert await a_snapshot(settings, world) == before


async def test_remove_a_member_of_another_workspace(
    client: httpx.AsyncClient, settings: Settings, world: World
) -> None:
    before = await a_snapshot(settings, world)
    for member_id in world.a_ids:
        response = await client.delete(f"{MEMBERS}/{member_id}", headers=world.b_owner.headers)
        assert response.status_code == 404
        assert response.json()["code"] == "member-not-found"
    assert await a_snapshot(settings, world) == before
    assert await a_invitation_is_open(client, world)


async def test_activation_bound_to_another_workspace(
    client: httpx.AsyncClient, settings: Settings, world: World
) -> None:
    b_id = str(world.b_owner.tenant.id)
    check = await client.get(
        f"{API}/activate/check", params={"token": world.a_token, "workspace_id": b_id}
    )
    assert check.json() == {"is_valid": False}
    response = await client.post(
        f"{API}/activate",
        json={
            "token": world.a_token,
            "workspace_id": b_id,
            "name": "Sneaky",
            "interface_language": "en-US",
            "timezone": "UTC",
        },
    )
    assert response.status_code == 403
    assert response.json()["code"] == "already_activate"
    assert await a_invitation_is_open(client, world)
    async with db_session(settings) as session:
        joined_b = await session.scalar(
            select(TenantAccountJoin.id).where(
                TenantAccountJoin.tenant_id == world.b_owner.tenant.id,
                TenantAccountJoin.account_id == world.a_pending_id,
            )
        )
    assert joined_b is None


async def test_a_bs_invitation_never_opens_a(
    client: httpx.AsyncClient, settings: Settings, world: World
) -> None:
    """A B link used with A's workspace id fails; used plainly it joins B only."""
    invited = await client.post(
        f"{MEMBERS}/invite-email",
        json={"emails": [world.a_member.account.email], "role": "admin"},
        headers=world.b_owner.headers,
    )
    url = invited.json()["invitation_results"][0]["url"]
    token = parse_qs(urlsplit(url).query)["token"][0]
    payload = {"token": token, "name": "X", "interface_language": "en-US", "timezone": "UTC"}
    wrong = await client.post(
        f"{API}/activate", json={**payload, "workspace_id": str(world.a_owner.tenant.id)}
    )
    assert wrong.status_code == 403
    before = await a_snapshot(settings, world)
    assert (await client.post(f"{API}/activate", json=payload)).status_code == 200
    assert await a_snapshot(settings, world) == before
    b_members = await client.get(MEMBERS, headers=world.b_owner.headers)
    roles = {m["id"]: m["role"] for m in b_members.json()["accounts"]}
    assert roles[str(world.a_member.account.id)] == "admin"
