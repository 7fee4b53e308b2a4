"""Workspaces: list, create, current, switch and rename (console spec section 5)."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from ore.config import Settings
from ore.extensions.database import Database
from ore.models import Tenant, TenantRole
from ore.services import accounts
from tests.factories import bearer_headers, create_member, db_session, mark_setup

API = "/console/api"
TENANT_KEYS = {
    "id",
    "name",
    "plan",
    "status",
    "created_at",
    "role",
    "in_trial",
    "trial_end_reason",
    "custom_config",
    "trial_credits",
    "trial_credits_used",
    "next_credit_reset_date",
}


async def workspaces_of(client: httpx.AsyncClient, headers: dict[str, str]) -> list[Any]:
    response = await client.get(f"{API}/workspaces", headers=headers)
    assert response.status_code == 200
    body: list[Any] = response.json()["workspaces"]
    return body


async def test_current_workspace_shape(client: httpx.AsyncClient, settings: Settings) -> None:
    owner = await create_member(settings, workspace_name="Acme")
    for path in ("/workspaces/current", "/info"):
        response = await client.post(f"{API}{path}", headers=owner.headers)
        assert response.status_code == 200
        body = response.json()
        assert set(body) == TENANT_KEYS
        assert body["id"] == str(owner.tenant.id)
        assert (body["name"], body["plan"], body["status"], body["role"]) == (
            "Acme",
            "basic",
            "normal",
            "owner",
        )
        assert isinstance(body["created_at"], int)
        unset = TENANT_KEYS - {"id", "name", "plan", "status", "created_at", "role"}
        assert all(body[key] is None for key in unset)


@pytest.mark.parametrize("role", list(TenantRole))
async def test_current_workspace_reports_the_callers_role(
    client: httpx.AsyncClient, settings: Settings, role: TenantRole
) -> None:
    owner = await create_member(settings)
    member = await create_member(settings, join=owner.tenant, role=role)
    response = await client.post(f"{API}/workspaces/current", headers=member.headers)
    assert response.json()["role"] == role.value


async def test_create_list_and_switch(client: httpx.AsyncClient, settings: Settings) -> None:
    owner = await create_member(settings, workspace_name="First")
    created = await client.post(
        f"{API}/workspaces", json={"name": "  Second "}, headers=owner.headers
    )
    assert created.status_code == 201
    second = created.json()
    assert set(second) == TENANT_KEYS
    assert (second["name"], second["role"]) == ("Second", "owner")

    listed = await workspaces_of(client, owner.headers)
    assert [(w["name"], w["current"]) for w in listed] == [("First", True), ("Second", False)]
    assert all(w["plan"] == "sandbox" and isinstance(w["created_at"], int) for w in listed)
    assert set(listed[0]) == {"id", "name", "plan", "status", "created_at", "current"}
    # Creating did not move the caller.
    current = await client.post(f"{API}/workspaces/current", headers=owner.headers)
    assert current.json()["name"] == "First"

    switched = await client.post(
        f"{API}/workspaces/switch", json={"tenant_id": second["id"]}, headers=owner.headers
    )
    assert switched.status_code == 200
    assert switched.json()["result"] == "success"
    assert switched.json()["new_tenant"]["id"] == second["id"]
    assert set(switched.json()["new_tenant"]) == TENANT_KEYS
    current = await client.post(f"{API}/workspaces/current", headers=owner.headers)
    assert current.json()["id"] == second["id"]
    listed = await workspaces_of(client, owner.headers)
    assert [(w["name"], w["current"]) for w in listed] == [("First", False), ("Second", True)]


async def test_first_workspace_of_an_account_without_one(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    db = Database(settings)
    try:
        await mark_setup(db)
        async with db.unit_of_work() as session:
            account = await accounts.create_account(
                session, email="lonely@example.com", name="Lonely", password="lonely-pass-1"
            )
    finally:
        await db.dispose()
    headers = bearer_headers(settings, account.id)
    assert (await client.post(f"{API}/workspaces/current", headers=headers)).status_code == 401
    assert await workspaces_of(client, headers) == []

    created = await client.post(f"{API}/workspaces", json={"name": "Mine"}, headers=headers)
    assert created.status_code == 201
    current = await client.post(f"{API}/workspaces/current", headers=headers)
    assert current.status_code == 200
    assert current.json()["id"] == created.json()["id"]


@pytest.mark.parametrize(
    "body",
    [{}, {"name": ""}, {"name": "   "}, {"name": "x" * 256}, {"name": 7}, {"name": "a\x00b"}],
)
async def test_create_rejects_bad_names(
    client: httpx.AsyncClient, settings: Settings, body: dict[str, Any]
) -> None:
    owner = await create_member(settings)
    response = await client.post(f"{API}/workspaces", json=body, headers=owner.headers)
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_param"
    assert len(await workspaces_of(client, owner.headers)) == 1


async def test_switch_refusals(client: httpx.AsyncClient, settings: Settings) -> None:
    owner = await create_member(settings)
    for tenant_id in (str(uuid.uuid4()), "not-a-uuid", ""):
        response = await client.post(
            f"{API}/workspaces/switch", json={"tenant_id": tenant_id}, headers=owner.headers
        )
        assert response.status_code == 403
        assert response.json() == {
            "code": "account_not_link_tenant",
            "message": "Account not link tenant.",
            "status": 403,
        }
    for body in ({}, {"tenant_id": 5}, {"tenant_id": None}):
        response = await client.post(f"{API}/workspaces/switch", json=body, headers=owner.headers)
        assert response.status_code == 400
        assert response.json()["code"] == "invalid_param"
    current = await client.post(f"{API}/workspaces/current", headers=owner.headers)
    assert current.json()["id"] == str(owner.tenant.id)


async def test_archived_workspace_is_hidden_and_cannot_be_entered(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    owner = await create_member(settings, workspace_name="Live")
    archived = await client.post(f"{API}/workspaces", json={"name": "Old"}, headers=owner.headers)
    archived_id = archived.json()["id"]
    async with db_session(settings) as session:
        await session.execute(
            update(Tenant).where(Tenant.id == uuid.UUID(archived_id)).values(status="archive")
        )
    assert [w["name"] for w in await workspaces_of(client, owner.headers)] == ["Live"]
    response = await client.post(
        f"{API}/workspaces/switch", json={"tenant_id": archived_id}, headers=owner.headers
    )
    assert response.status_code == 403


@pytest.mark.parametrize("role", [TenantRole.OWNER, TenantRole.ADMIN])
async def test_owner_and_admin_rename(
    client: httpx.AsyncClient, settings: Settings, role: TenantRole
) -> None:
    owner = await create_member(settings, workspace_name="Before")
    caller = (
        owner
        if role == TenantRole.OWNER
        else await create_member(settings, join=owner.tenant, role=role)
    )
    response = await client.post(
        f"{API}/workspaces/info", json={"name": "After"}, headers=caller.headers
    )
    assert response.status_code == 200
    body = response.json()
    assert body["result"] == "success"
    assert set(body["tenant"]) == TENANT_KEYS
    assert (body["tenant"]["name"], body["tenant"]["role"]) == ("After", role.value)
    current = await client.post(f"{API}/workspaces/current", headers=owner.headers)
    assert current.json()["name"] == "After"


@pytest.mark.parametrize(
    "role", [TenantRole.EDITOR, TenantRole.NORMAL, TenantRole.DATASET_OPERATOR]
)
async def test_others_cannot_rename(
    client: httpx.AsyncClient, settings: Settings, role: TenantRole
) -> None:
    owner = await create_member(settings, workspace_name="Kept")
    member = await create_member(settings, join=owner.tenant, role=role)
    response = await client.post(
        f"{API}/workspaces/info", json={"name": "Taken"}, headers=member.headers
    )
    assert response.status_code == 403
    assert response.json()["code"] == "forbidden"
    current = await client.post(f"{API}/workspaces/current", headers=owner.headers)
    assert current.json()["name"] == "Kept"


@pytest.mark.parametrize("body", [{}, {"name": ""}, {"name": "y" * 256}, {"name": ["x"]}])
async def test_rename_rejects_bad_names(
    client: httpx.AsyncClient, settings: Settings, body: dict[str, Any]
) -> None:
    owner = await create_member(settings, workspace_name="Stable")
    response = await client.post(f"{API}/workspaces/info", json=body, headers=owner.headers)
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_param"
    current = await client.post(f"{API}/workspaces/current", headers=owner.headers)
    assert current.json()["name"] == "Stable"


async def test_workspace_routes_require_login(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    await create_member(settings)
    for method, path in (
        ("GET", "/workspaces"),
        ("POST", "/workspaces"),
        ("POST", "/workspaces/current"),
        ("POST", "/info"),
        ("POST", "/workspaces/switch"),
        ("POST", "/workspaces/info"),
    ):
        response = await client.request(method, f"{API}{path}", json={})
        assert response.status_code == 401, path
