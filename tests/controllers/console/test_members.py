"""Workspace members: listing, role changes and removal, per role (console spec section 6)."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from ore.config import Settings
from ore.models import Account, TenantAccountJoin, TenantRole
from tests.factories import Member, create_member, db_session

MEMBERS = "/console/api/workspaces/current/members"
INVITE = f"{MEMBERS}/invite-email"
MEMBER_KEYS = {
    "id",
    "name",
    "avatar",
    "avatar_url",
    "email",
    "last_login_at",
    "last_active_at",
    "created_at",
    "role",
    "status",
}


async def role_of(settings: Settings, member: Member) -> str | None:
    async with db_session(settings) as session:
        return await session.scalar(
            select(TenantAccountJoin.role).where(
                TenantAccountJoin.tenant_id == member.tenant.id,
                TenantAccountJoin.account_id == member.account.id,
            )
        )


async def invite_pending(
    client: httpx.AsyncClient, settings: Settings, owner: Member, email: str
) -> uuid.UUID:
    response = await client.post(
        INVITE, json={"emails": [email], "role": "normal"}, headers=owner.headers
    )
    assert response.status_code == 201
    async with db_session(settings) as session:
        account_id = await session.scalar(select(Account.id).where(Account.email == email))
    assert account_id is not None
    return account_id


async def test_list_members_shape(client: httpx.AsyncClient, settings: Settings) -> None:
    owner = await create_member(settings, name="Olga")
    editor = await create_member(settings, join=owner.tenant, role=TenantRole.EDITOR)
    await invite_pending(client, settings, owner, "pending@example.com")

    response = await client.get(MEMBERS, headers=editor.headers)
    assert response.status_code == 200
    body = response.json()
    assert body["result"] == "success"
    accounts: list[dict[str, Any]] = body["accounts"]
    assert all(set(item) == MEMBER_KEYS for item in accounts)
    by_email = {item["email"]: item for item in accounts}
    assert set(by_email) == {owner.account.email, editor.account.email, "pending@example.com"}
    olga = by_email[owner.account.email]
    assert (olga["id"], olga["name"], olga["role"], olga["status"]) == (
        str(owner.account.id),
        "Olga",
        "owner",
        "active",
    )
    assert isinstance(olga["created_at"], int) and isinstance(olga["last_active_at"], int)
    assert olga["last_login_at"] is None and olga["avatar"] is None
    assert by_email[editor.account.email]["role"] == "editor"
    assert by_email["pending@example.com"]["status"] == "pending"


async def test_dataset_operators_list(client: httpx.AsyncClient, settings: Settings) -> None:
    owner = await create_member(settings)
    operator = await create_member(settings, join=owner.tenant, role=TenantRole.DATASET_OPERATOR)
    await create_member(settings, join=owner.tenant, role=TenantRole.NORMAL)
    response = await client.get(
        "/console/api/workspaces/current/dataset-operators", headers=owner.headers
    )
    assert response.status_code == 200
    assert [item["id"] for item in response.json()["accounts"]] == [str(operator.account.id)]


async def test_members_require_login(client: httpx.AsyncClient, settings: Settings) -> None:
    await create_member(settings)
    assert (await client.get(MEMBERS)).status_code == 401


# ---- update-role ------------------------------------------------------------------------


async def test_owner_changes_a_role(client: httpx.AsyncClient, settings: Settings) -> None:
    owner = await create_member(settings)
    member = await create_member(settings, join=owner.tenant, role=TenantRole.NORMAL)
    response = await client.put(
        f"{MEMBERS}/{member.account.id}/update-role", json={"role": "editor"}, headers=owner.headers
    )
    assert response.status_code == 200
    assert response.json() == {"result": "success"}
    assert await role_of(settings, member) == "editor"


@pytest.mark.parametrize("operator_role", [TenantRole.ADMIN, TenantRole.EDITOR, TenantRole.NORMAL])
async def test_only_the_owner_changes_roles(
    client: httpx.AsyncClient, settings: Settings, operator_role: TenantRole
) -> None:
    owner = await create_member(settings)
    operator = await create_member(settings, join=owner.tenant, role=operator_role)
    member = await create_member(settings, join=owner.tenant, role=TenantRole.NORMAL)
    response = await client.put(
        f"{MEMBERS}/{member.account.id}/update-role",
        json={"role": "admin"},
        headers=operator.headers,
    )
    # matches Dify: update-role answers service errors as 400 invalid_param.
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_param"
    assert response.json()["message"] == "No permission to update member."
    assert await role_of(settings, member) == "normal"


async def test_update_role_errors(client: httpx.AsyncClient, settings: Settings) -> None:
    owner = await create_member(settings)
    member = await create_member(settings, join=owner.tenant, role=TenantRole.EDITOR)
    url = f"{MEMBERS}/{member.account.id}/update-role"

    for role in ("owner", "root", ""):
        response = await client.put(url, json={"role": role}, headers=owner.headers)
        assert response.status_code == 400
        assert response.json() == {"code": "invalid-role", "message": "Invalid role"}

    same = await client.put(url, json={"role": "editor"}, headers=owner.headers)
    assert same.status_code == 400 and same.json()["code"] == "invalid_param"

    own = await client.put(
        f"{MEMBERS}/{owner.account.id}/update-role", json={"role": "admin"}, headers=owner.headers
    )
    assert own.status_code == 400
    assert own.json()["message"] == "Cannot operate self."
    assert await role_of(settings, owner) == "owner"

    for body in ({}, {"role": 3}, {"role": None}):
        response = await client.put(url, json=body, headers=owner.headers)
        assert response.status_code == 400 and response.json()["code"] == "invalid_param"

    bad_id = await client.put(
        f"{MEMBERS}/not-a-uuid/update-role", json={"role": "admin"}, headers=owner.headers
    )
    assert bad_id.status_code == 404
    unknown = await client.put(
        f"{MEMBERS}/{uuid.uuid4()}/update-role", json={"role": "admin"}, headers=owner.headers
    )
    assert unknown.status_code == 404
    assert unknown.json() == {"code": "member-not-found", "message": "Member not in tenant."}
    assert await role_of(settings, member) == "editor"


async def test_a_second_owner_keeps_ownership(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    owner = await create_member(settings)
    co_owner = await create_member(settings, join=owner.tenant, role=TenantRole.OWNER)
    response = await client.put(
        f"{MEMBERS}/{co_owner.account.id}/update-role",
        json={"role": "admin"},
        headers=owner.headers,
    )
    assert response.status_code == 400
    assert await role_of(settings, co_owner) == "owner"


# ---- delete -----------------------------------------------------------------------------


async def test_owner_removes_a_member(client: httpx.AsyncClient, settings: Settings) -> None:
    owner = await create_member(settings)
    member = await create_member(settings, join=owner.tenant, role=TenantRole.ADMIN)
    response = await client.delete(f"{MEMBERS}/{member.account.id}", headers=owner.headers)
    assert response.status_code == 200
    assert response.json() == {"result": "success", "tenant_id": str(owner.tenant.id)}
    assert await role_of(settings, member) is None
    listed = (await client.get(MEMBERS, headers=owner.headers)).json()["accounts"]
    assert member.account.email not in [item["email"] for item in listed]
    # They have no workspace left.
    current = await client.post("/console/api/workspaces/current", headers=member.headers)
    assert current.status_code == 401


@pytest.mark.parametrize(
    "operator_role",
    [TenantRole.ADMIN, TenantRole.EDITOR, TenantRole.NORMAL, TenantRole.DATASET_OPERATOR],
)
async def test_only_the_owner_removes_members(
    client: httpx.AsyncClient, settings: Settings, operator_role: TenantRole
) -> None:
    owner = await create_member(settings)
    operator = await create_member(settings, join=owner.tenant, role=operator_role)
    member = await create_member(settings, join=owner.tenant, role=TenantRole.NORMAL)
    for target in (member, owner):
        response = await client.delete(f"{MEMBERS}/{target.account.id}", headers=operator.headers)
        assert response.status_code == 403
        assert response.json() == {
            "code": "forbidden",
            "message": "No permission to remove member.",
        }
    assert await role_of(settings, member) == "normal"
    assert await role_of(settings, owner) == "owner"


async def test_delete_errors(client: httpx.AsyncClient, settings: Settings) -> None:
    owner = await create_member(settings)
    own = await client.delete(f"{MEMBERS}/{owner.account.id}", headers=owner.headers)
    assert own.status_code == 400
    assert own.json() == {"code": "cannot-operate-self", "message": "Cannot operate self."}
    assert await role_of(settings, owner) == "owner"

    assert (await client.delete(f"{MEMBERS}/not-a-uuid", headers=owner.headers)).status_code == 404
    assert (await client.delete(f"{MEMBERS}/12345", headers=owner.headers)).status_code == 404
    unknown = await client.delete(f"{MEMBERS}/{uuid.uuid4()}", headers=owner.headers)
    assert unknown.status_code == 404
    assert unknown.json() == {"code": "member-not-found", "message": "Member not in tenant."}


async def test_delete_cancels_a_pending_invitation(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    owner = await create_member(settings)
    pending_id = await invite_pending(client, settings, owner, "cancel@example.com")
    response = await client.delete(f"{MEMBERS}/{pending_id}", headers=owner.headers)
    assert response.status_code == 200
    listed = (await client.get(MEMBERS, headers=owner.headers)).json()["accounts"]
    assert "cancel@example.com" not in [item["email"] for item in listed]

    # An existing account invited but not yet joined: delete cancels its invitation.
    outsider = await create_member(settings)
    invited = await client.post(
        INVITE, json={"emails": [outsider.account.email], "role": "admin"}, headers=owner.headers
    )
    url = invited.json()["invitation_results"][0]["url"]
    token = url.split("token=")[1]
    response = await client.delete(f"{MEMBERS}/{outsider.account.id}", headers=owner.headers)
    assert response.status_code == 200
    check = await client.get("/console/api/activate/check", params={"token": token})
    assert check.json() == {"is_valid": False}
    # Nothing left to cancel the second time.
    again = await client.delete(f"{MEMBERS}/{outsider.account.id}", headers=owner.headers)
    assert again.status_code == 404
