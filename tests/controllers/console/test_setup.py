"""First-run setup and the no-login system routes (console spec section 3)."""

from __future__ import annotations

from datetime import datetime

import httpx
from sqlalchemy import select

from ore import __version__
from ore.config import Settings
from ore.extensions.database import Database
from ore.models import Account, Tenant, TenantAccountJoin, TenantRole
from ore.services import workspaces

ADMIN = {"email": "Admin@Example.com", "name": "Ada", "password": "first-admin-1"}


async def test_setup_creates_the_admin_and_then_refuses(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    before = await client.get("/console/api/setup")
    assert before.status_code == 200
    assert before.json() == {"step": "not_started"}

    created = await client.post("/console/api/setup", json={**ADMIN, "language": "ja-JP"})
    assert created.status_code == 201
    assert created.json() == {"result": "success"}

    after = (await client.get("/console/api/setup")).json()
    assert after["step"] == "finished"
    assert datetime.fromisoformat(after["setup_at"]).year >= 2024

    again = await client.post("/console/api/setup", json={**ADMIN, "email": "other@example.com"})
    assert again.status_code == 403
    assert again.json()["code"] == "already_setup"
    assert again.json()["status"] == 403

    db = Database(settings)
    try:
        async with db.unit_of_work() as session:
            account = (await session.execute(select(Account))).scalar_one()
            assert account.email == "admin@example.com"
            assert account.status == "active"
            assert account.interface_language == "ja-JP"
            assert account.password_hash is not None
            assert account.password_hash.startswith("$argon2id$")
            tenant, join = (
                await session.execute(
                    select(Tenant, TenantAccountJoin).join(
                        TenantAccountJoin, TenantAccountJoin.tenant_id == Tenant.id
                    )
                )
            ).one()
            assert tenant.name == "Ada's Workspace"
            assert join.account_id == account.id
            assert join.role == TenantRole.OWNER
            assert join.current is True
    finally:
        await db.dispose()


async def test_setup_then_login_with_the_same_password(client: httpx.AsyncClient) -> None:
    before = await client.post("/console/api/login", json=ADMIN)
    assert before.status_code == 401
    assert before.json()["code"] == "not_setup"
    assert (await client.post("/console/api/setup", json=ADMIN)).status_code == 201
    login = await client.post("/console/api/login", json=ADMIN)
    assert login.status_code == 200, login.text
    assert login.json()["result"] == "success"


async def test_setup_is_refused_when_a_workspace_already_exists(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    db = Database(settings)
    try:
        async with db.unit_of_work() as session:
            owner = Account(email="someone@example.com", name="Someone")
            session.add(owner)
            await session.flush()
            await workspaces.create_workspace(session, name="Existing", owner=owner)
    finally:
        await db.dispose()
    response = await client.post("/console/api/setup", json=ADMIN)
    assert response.status_code == 403
    assert response.json()["code"] == "already_setup"


async def test_setup_rejects_bad_input(client: httpx.AsyncClient) -> None:
    cases = [
        {**ADMIN, "password": "short1"},  # under 8 characters
        {**ADMIN, "password": "lettersonly"},  # no digit
        {**ADMIN, "password": "1234567890"},  # no letter
        {**ADMIN, "email": "not-an-email"},
        {**ADMIN, "name": "x" * 31},
        {**ADMIN, "name": "   "},
        {**ADMIN, "email": 42},
        {"email": ADMIN["email"], "name": ADMIN["name"]},  # no password
    ]
    for body in cases:
        response = await client.post("/console/api/setup", json=body)
        assert response.status_code == 400, (body, response.text)
        assert response.json()["code"] == "invalid_param", body
    malformed = await client.post(
        "/console/api/setup", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert malformed.status_code == 400
    assert malformed.json()["code"] == "bad_request"
    assert (await client.get("/console/api/setup")).json() == {"step": "not_started"}


async def test_system_routes_answer_without_login(client: httpx.AsyncClient) -> None:
    assert (await client.get("/console/api/ping")).json() == {"result": "pong"}

    version = (await client.get("/console/api/version?current_version=1.0.0")).json()
    assert version["version"] == __version__
    assert version["features"] == {
        "can_replace_logo": False,
        "model_load_balancing_enabled": False,
    }

    features = (await client.get("/console/api/system-features")).json()
    assert features["enable_email_password_login"] is True
    assert features["enable_email_code_login"] is False
    assert features["is_allow_register"] is False
    assert features["is_allow_create_workspace"] is False
    assert features["enable_marketplace"] is True
    assert features["max_plugin_package_size"] == 15728640
    assert features["license"]["status"] == "none"
    assert features["plugin_installation_permission"]["plugin_installation_scope"] == "all"
    assert features["webapp_auth"]["sso_config"] == {"protocol": ""}

    assert (await client.get("/console/api/init")).json() == {"status": "finished"}


async def test_features_need_login(client: httpx.AsyncClient) -> None:
    assert (await client.post("/console/api/setup", json=ADMIN)).status_code == 201
    anonymous = await client.get("/console/api/features")
    assert anonymous.status_code == 401
    login = (await client.post("/console/api/login", json=ADMIN)).json()
    token = login["data"]["access_token"]
    client.cookies.clear()
    features = await client.get(
        "/console/api/features", headers={"Authorization": f"Bearer {token}"}
    )
    assert features.status_code == 200
    body = features.json()
    assert body["billing"] == {
        "enabled": False,
        "subscription": {"plan": "sandbox", "interval": ""},
    }
    assert body["docs_processing"] == "standard"
    assert set(body["members"]) == {"size", "limit"}
