"""Inviting members by email and accepting the invitation (console spec sections 4 and 6)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from asgi_lifespan import LifespanManager
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ore.app_factory import create_app
from ore.config import Settings
from ore.models import Account, AccountStatus, Invitation, TenantAccountJoin, TenantRole
from ore.models.base import utcnow
from ore.services import passwords, signals, tokens
from tests.conftest import make_settings
from tests.factories import DEFAULT_PASSWORD, Member, bearer_headers, create_member, db_session

INVITE = "/console/api/workspaces/current/members/invite-email"
CHECK = "/console/api/activate/check"
ACTIVATE = "/console/api/activate"


async def invite(
    client: httpx.AsyncClient, inviter: Member, *emails: str, role: str = "normal"
) -> dict[str, Any]:
    response = await client.post(
        INVITE, json={"emails": list(emails), "role": role}, headers=inviter.headers
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def token_of(url: str) -> str:
    return parse_qs(urlsplit(url).query)["token"][0]


def activation(token: str, **extra: Any) -> dict[str, Any]:
    return {
        "token": token,
        "name": "Invitee",
        "interface_language": "de-DE",
        "timezone": "Europe/Berlin",
        **extra,
    }


async def test_invite_new_email_creates_pending_member_and_hashed_token(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    owner = await create_member(settings)
    body = await invite(client, owner, "New.Person+x@Example.com", role="editor")
    assert body["result"] == "success"
    assert body["tenant_id"] == str(owner.tenant.id)
    [result] = body["invitation_results"]
    assert result["status"] == "success"
    assert result["email"] == "new.person+x@example.com"
    # CONSOLE_WEB_URL is empty in tests: the link is relative, the email URL-encoded.
    assert result["url"].startswith("/activate?email=new.person%2Bx%40example.com&token=")
    token = token_of(result["url"])

    async with db_session(settings) as session:
        account = await session.scalar(
            select(Account).where(Account.email == "new.person+x@example.com")
        )
        assert account is not None
        assert account.status == AccountStatus.PENDING
        assert account.password_hash is None
        join = await session.scalar(
            select(TenantAccountJoin).where(TenantAccountJoin.account_id == account.id)
        )
        assert join is not None
        assert (join.tenant_id, join.role) == (owner.tenant.id, TenantRole.EDITOR)
        invitation = await session.scalar(
            select(Invitation).where(Invitation.account_id == account.id)
        )
        assert invitation is not None
        assert invitation.token_hash == tokens.token_digest(token)
        assert token not in invitation.token_hash
        lifetime = invitation.expires_at - invitation.created_at
        assert abs(lifetime - timedelta(hours=settings.INVITE_EXPIRY_HOURS)) < timedelta(minutes=1)


async def test_invite_links_use_console_web_url(
    database_url: str, tmp_path: Path, settings: Settings
) -> None:
    # ``settings`` is requested for its clean-up of the shared database.
    linked = make_settings(database_url, tmp_path, CONSOLE_WEB_URL="https://console.example.org/")
    owner = await create_member(linked)
    application = create_app(linked)
    async with LifespanManager(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            body = await invite(http, owner, "linked@example.com", owner.account.email)
    new, existing = body["invitation_results"]
    assert new["url"].startswith("https://console.example.org/activate?email=linked%40")
    assert existing == {
        "status": "success",
        "email": owner.account.email,
        "url": "https://console.example.org/signin",
    }


async def test_invite_sends_member_invited_signal(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    owner = await create_member(settings, workspace_name="Signal Works")
    seen: list[dict[str, Any]] = []

    def receiver(sender: Any, **kwargs: Any) -> None:
        seen.append({"sender": sender, **kwargs})

    signals.member_invited.connect(receiver)
    try:
        body = await invite(client, owner, "mail-me@example.com", owner.account.email, role="admin")
    finally:
        signals.member_invited.disconnect(receiver)
    # The member already in the workspace gets a sign-in link and no mail.
    assert len(seen) == 1
    event = seen[0]
    assert event["tenant"].id == owner.tenant.id
    assert event["tenant"].name == "Signal Works"
    assert event["email"] == "mail-me@example.com"
    assert event["role"] == TenantRole.ADMIN
    assert event["url"] == body["invitation_results"][0]["url"]
    assert event["inviter"].id == owner.account.id
    assert isinstance(event["session"], AsyncSession)


async def test_invite_result_shapes_invalid_and_duplicate_emails(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    owner = await create_member(settings)
    body = await invite(
        client,
        owner,
        "ok@example.com",
        "not-an-email",
        "OK@example.com",
        owner.account.email,
        "a@b",
    )
    results = body["invitation_results"]
    assert [r["email"] for r in results] == [
        "ok@example.com",
        "not-an-email",
        owner.account.email,
        "a@b",
    ]
    assert results[0]["status"] == "success" and "/activate?" in results[0]["url"]
    assert results[1] == {
        "status": "failed",
        "email": "not-an-email",
        "message": "not-an-email is not a valid email.",
    }
    assert results[2] == {"status": "success", "email": owner.account.email, "url": "/signin"}
    assert results[3]["status"] == "failed"
    async with db_session(settings) as session:
        emails = set(await session.scalars(select(Account.email)))
    assert "not-an-email" not in emails and "a@b" not in emails


@pytest.mark.parametrize("role", ["owner", "superuser", "", "ADMIN"])
async def test_invite_rejects_owner_and_unknown_roles(
    client: httpx.AsyncClient, settings: Settings, role: str
) -> None:
    owner = await create_member(settings)
    response = await client.post(
        INVITE, json={"emails": ["x@example.com"], "role": role}, headers=owner.headers
    )
    assert response.status_code == 400
    assert response.json() == {"code": "invalid-role", "message": "Invalid role"}
    async with db_session(settings) as session:
        assert await session.scalar(select(Account).where(Account.email == "x@example.com")) is None


@pytest.mark.parametrize(
    "payload",
    [
        {"role": "normal"},
        {"emails": ["x@example.com"]},
        {"emails": "x@example.com", "role": "normal"},
        {"emails": [1, 2], "role": "normal"},
        {"emails": ["x@example.com"], "role": 5},
        {"emails": [f"u{i}@example.com" for i in range(101)], "role": "normal"},
    ],
)
async def test_invite_rejects_malformed_bodies(
    client: httpx.AsyncClient, settings: Settings, payload: dict[str, Any]
) -> None:
    owner = await create_member(settings)
    response = await client.post(INVITE, json=payload, headers=owner.headers)
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_param"


@pytest.mark.parametrize(
    "role", [TenantRole.EDITOR, TenantRole.NORMAL, TenantRole.DATASET_OPERATOR]
)
async def test_only_owner_and_admin_may_invite(
    client: httpx.AsyncClient, settings: Settings, role: TenantRole
) -> None:
    owner = await create_member(settings)
    member = await create_member(settings, join=owner.tenant, role=role)
    response = await client.post(
        INVITE, json={"emails": ["blocked@example.com"], "role": "normal"}, headers=member.headers
    )
    assert response.status_code == 403
    assert response.json()["code"] == "forbidden"
    async with db_session(settings) as session:
        assert (
            await session.scalar(select(Account).where(Account.email == "blocked@example.com"))
            is None
        )

    admin = await create_member(settings, join=owner.tenant, role=TenantRole.ADMIN)
    body = await invite(client, admin, "allowed@example.com", role="admin")
    assert body["invitation_results"][0]["status"] == "success"


async def test_reinviting_a_pending_member_replaces_the_link(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    owner = await create_member(settings)
    first = token_of(
        (await invite(client, owner, "again@example.com"))["invitation_results"][0]["url"]
    )
    second = token_of(
        (await invite(client, owner, "again@example.com", role="admin"))["invitation_results"][0][
            "url"
        ]
    )
    assert first != second
    assert (await client.get(CHECK, params={"token": first})).json() == {"is_valid": False}
    assert (await client.get(CHECK, params={"token": second})).json()["is_valid"] is True
    async with db_session(settings) as session:
        role = await session.scalar(
            select(TenantAccountJoin.role)
            .join(Account, Account.id == TenantAccountJoin.account_id)
            .where(Account.email == "again@example.com")
        )
    assert role == TenantRole.NORMAL  # matches Dify: a resend keeps the membership's role


async def test_banned_account_cannot_be_invited(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    owner = await create_member(settings)
    other = await create_member(settings)
    async with db_session(settings) as session:
        await session.execute(
            update(Account).where(Account.id == other.account.id).values(status="banned")
        )
    body = await invite(client, owner, other.account.email)
    assert body["invitation_results"][0]["status"] == "failed"


async def test_check_reports_valid_invitation_and_matches_filters(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    owner = await create_member(settings, workspace_name="Acme")
    url = (await invite(client, owner, "check@example.com"))["invitation_results"][0]["url"]
    token = token_of(url)
    valid = {
        "is_valid": True,
        "data": {
            "workspace_name": "Acme",
            "workspace_id": str(owner.tenant.id),
            "email": "check@example.com",
        },
    }
    assert (await client.get(CHECK, params={"token": token})).json() == valid
    full = {"token": token, "email": "Check@Example.com", "workspace_id": str(owner.tenant.id)}
    assert (await client.get(CHECK, params=full)).json() == valid
    for wrong in (
        {"token": token + "0"},
        {"token": token, "email": "someone@example.com"},
        {"token": token, "email": "not an email"},
        {"token": token, "workspace_id": "00000000-0000-0000-0000-000000000000"},
        {"token": token, "workspace_id": "nope"},
        {"token": ""},
    ):
        response = await client.get(CHECK, params=wrong)
        assert response.status_code == 200
        assert response.json() == {"is_valid": False}, wrong
    missing = await client.get(CHECK)
    assert missing.status_code == 400
    assert missing.json()["code"] == "invalid_param"


async def test_expired_invitation_is_invalid(client: httpx.AsyncClient, settings: Settings) -> None:
    owner = await create_member(settings)
    token = token_of(
        (await invite(client, owner, "late@example.com"))["invitation_results"][0]["url"]
    )
    async with db_session(settings) as session:
        await session.execute(update(Invitation).values(expires_at=utcnow() - timedelta(seconds=1)))
    assert (await client.get(CHECK, params={"token": token})).json() == {"is_valid": False}
    response = await client.post(ACTIVATE, json=activation(token))
    assert response.status_code == 403
    assert response.json()["code"] == "already_activate"


async def test_activate_pending_account(client: httpx.AsyncClient, settings: Settings) -> None:
    owner = await create_member(settings)
    url = (await invite(client, owner, "fresh@example.com", role="editor"))["invitation_results"][
        0
    ]["url"]
    token = token_of(url)
    response = await client.post(
        ACTIVATE,
        json=activation(
            token,
            email="fresh@example.com",
            workspace_id=str(owner.tenant.id),
            password="new-secret-42",
        ),
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"result": "success"}

    async with db_session(settings) as session:
        account = await session.scalar(select(Account).where(Account.email == "fresh@example.com"))
        assert account is not None
        assert account.status == AccountStatus.ACTIVE
        assert (account.name, account.interface_language, account.timezone) == (
            "Invitee",
            "de-DE",
            "Europe/Berlin",
        )
        assert account.initialized_at is not None
        assert await passwords.verify_password(account.password_hash, "new-secret-42")
        invitation = await session.scalar(select(Invitation))
        assert invitation is not None and invitation.accepted_at is not None

    # The invitee now works in the workspace, with the invited role.
    current = await client.post(
        "/console/api/workspaces/current", headers=bearer_headers(settings, account.id)
    )
    assert current.status_code == 200
    assert (current.json()["id"], current.json()["role"]) == (str(owner.tenant.id), "editor")

    # Single use.
    again = await client.post(ACTIVATE, json=activation(token))
    assert again.status_code == 403
    assert again.json() == {
        "code": "already_activate",
        "message": "Auth Token is invalid or account already activated, please check again.",
        "status": 403,
    }
    assert (await client.get(CHECK, params={"token": token})).json() == {"is_valid": False}


async def test_activate_without_password_leaves_none(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    owner = await create_member(settings)
    token = token_of(
        (await invite(client, owner, "nopw@example.com"))["invitation_results"][0]["url"]
    )
    response = await client.post(ACTIVATE, json=activation(token))
    assert response.status_code == 200
    async with db_session(settings) as session:
        account = await session.scalar(select(Account).where(Account.email == "nopw@example.com"))
    assert account is not None and account.password_hash is None
    assert account.status == AccountStatus.ACTIVE


async def test_existing_account_joins_on_activation_only(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    owner = await create_member(settings, workspace_name="Team A")
    outsider = await create_member(settings, name="Outsider", workspace_name="Own")
    url = (await invite(client, owner, outsider.account.email, role="admin"))["invitation_results"][
        0
    ]["url"]
    members = await client.get("/console/api/workspaces/current/members", headers=owner.headers)
    assert outsider.account.email not in [m["email"] for m in members.json()["accounts"]]

    response = await client.post(
        ACTIVATE, json=activation(token_of(url), name="Hijacked", password="other-pass-99")
    )
    assert response.status_code == 200

    members = await client.get("/console/api/workspaces/current/members", headers=owner.headers)
    roles = {m["email"]: m["role"] for m in members.json()["accounts"]}
    assert roles[outsider.account.email] == "admin"
    async with db_session(settings) as session:
        account = await session.get(Account, outsider.account.id)
        assert account is not None
        # The link is shown to the inviter: it must never rewrite an existing profile.
        assert account.name == "Outsider"
        assert await passwords.verify_password(account.password_hash, DEFAULT_PASSWORD)
    current = await client.post("/console/api/workspaces/current", headers=outsider.headers)
    assert current.json()["name"] == "Own"


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"password": "short1"}, "invalid_param"),
        ({"password": "lettersonly"}, "invalid_param"),
        ({"interface_language": "xx-XX"}, "invalid_param"),
        ({"timezone": "Mars/Olympus"}, "invalid_param"),
        ({"name": "n" * 31}, "invalid_param"),
        ({"name": "   "}, "invalid_param"),
        ({"name": 12}, "invalid_param"),
        ({"token": None}, "invalid_param"),
    ],
)
async def test_activate_rejects_bad_input(
    client: httpx.AsyncClient, settings: Settings, change: dict[str, Any], code: str
) -> None:
    owner = await create_member(settings)
    token = token_of(
        (await invite(client, owner, "bad@example.com"))["invitation_results"][0]["url"]
    )
    response = await client.post(ACTIVATE, json={**activation(token), **change})
    assert response.status_code == 400, response.text
    assert response.json()["code"] == code
    # Nothing was used up.
    assert (await client.get(CHECK, params={"token": token})).json()["is_valid"] is True


async def test_activate_with_unknown_token(client: httpx.AsyncClient, settings: Settings) -> None:
    await create_member(settings)
    response = await client.post(ACTIVATE, json=activation("f" * 128))
    assert response.status_code == 403
    assert response.json()["code"] == "already_activate"


async def test_activate_requires_setup(client: httpx.AsyncClient) -> None:
    response = await client.post(ACTIVATE, json=activation("f" * 128))
    assert response.status_code == 401
    assert response.json()["code"] == "not_setup"


async def test_removed_invitee_cannot_activate(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    owner = await create_member(settings)
    body = await invite(client, owner, "gone@example.com")
    token = token_of(body["invitation_results"][0]["url"])
    async with db_session(settings) as session:
        account_id = await session.scalar(
            select(Account.id).where(Account.email == "gone@example.com")
        )
    response = await client.delete(
        f"/console/api/workspaces/current/members/{account_id}", headers=owner.headers
    )
    assert response.status_code == 200
    assert (await client.get(CHECK, params={"token": token})).json() == {"is_valid": False}
    assert (await client.post(ACTIVATE, json=activation(token))).status_code == 403
