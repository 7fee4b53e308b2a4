"""The account's own profile: read, every update, bad input, and password change."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import update

from ore.config import Settings
from ore.extensions.database import Database
from ore.models import Account
from tests.factories import DEFAULT_PASSWORD, Member, create_member

ACCOUNT = "/console/api/account"
PROFILE_FIELDS = {
    "id",
    "name",
    "avatar",
    "avatar_url",
    "email",
    "is_password_set",
    "interface_language",
    "interface_theme",
    "timezone",
    "last_login_at",
    "last_login_ip",
    "created_at",
}


async def profile(client: httpx.AsyncClient, member: Member) -> dict[str, Any]:
    response = await client.get(f"{ACCOUNT}/profile", headers=member.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_profile_has_the_account_object_fields(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    member = await create_member(settings, email="me@example.com", name="Me Myself")
    body = await profile(client, member)
    assert set(body) == PROFILE_FIELDS
    assert body["id"] == str(member.account.id)
    assert body["email"] == "me@example.com"
    assert body["name"] == "Me Myself"
    assert body["avatar"] is None
    assert body["avatar_url"] is None
    assert body["is_password_set"] is True
    assert body["interface_language"] == "en-US"
    assert body["interface_theme"] == "light"
    assert body["timezone"] == "UTC"
    assert body["last_login_at"] is None
    assert isinstance(body["created_at"], int)
    assert body["created_at"] == int(member.account.created_at.timestamp())


async def test_profile_needs_login(client: httpx.AsyncClient, settings: Settings) -> None:
    await create_member(settings)
    response = await client.get(f"{ACCOUNT}/profile")
    assert response.status_code == 401
    assert response.json()["message"] == "Invalid Authorization token."


async def test_each_update_answers_the_account_and_persists(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    member = await create_member(settings)
    updates = [
        ("name", {"name": "New Name"}, "name", "New Name"),
        ("avatar", {"avatar": "https://img.example.com/a.png"}, "avatar", None),
        ("interface-language", {"interface_language": "zh-Hans"}, "interface_language", None),
        ("interface-theme", {"interface_theme": "dark"}, "interface_theme", None),
        ("timezone", {"timezone": "Asia/Tokyo"}, "timezone", None),
    ]
    for route, body, field, expected in updates:
        response = await client.post(f"{ACCOUNT}/{route}", json=body, headers=member.headers)
        assert response.status_code == 200, (route, response.text)
        answer = response.json()
        assert set(answer) == PROFILE_FIELDS
        value = expected if expected is not None else next(iter(body.values()))
        assert answer[field] == value
    stored = await profile(client, member)
    assert stored["name"] == "New Name"
    assert stored["avatar"] == "https://img.example.com/a.png"
    assert stored["avatar_url"] == "https://img.example.com/a.png"
    assert stored["interface_language"] == "zh-Hans"
    assert stored["interface_theme"] == "dark"
    assert stored["timezone"] == "Asia/Tokyo"


async def test_updates_reject_bad_input(client: httpx.AsyncClient, settings: Settings) -> None:
    member = await create_member(settings, name="Original")
    cases: list[tuple[str, Any]] = [
        ("name", {"name": "ab"}),
        ("name", {"name": "x" * 31}),
        ("name", {"name": "   abc   " + " " * 30 + "x"}),
        ("name", {"name": 12345}),
        ("name", {}),
        ("name", {"nickname": "Whatever"}),
        ("avatar", {"avatar": ""}),
        ("avatar", {"avatar": ["a"]}),
        ("interface-language", {"interface_language": "xx-XX"}),
        ("interface-language", {"interface_language": None}),
        ("interface-theme", {"interface_theme": "blue"}),
        ("interface-theme", {"interface_theme": True}),
        ("timezone", {"timezone": "Mars/Olympus_Mons"}),
        ("timezone", {"timezone": "../../etc/passwd"}),
        ("timezone", {"timezone": ""}),
        ("timezone", {"timezone": 9}),
        ("password", {"new_password": "abc12345"}),
        ("password", {"new_password": 12345678, "repeat_new_password": 12345678}),
    ]
    for route, body in cases:
        response = await client.post(f"{ACCOUNT}/{route}", json=body, headers=member.headers)
        assert response.status_code == 400, (route, body, response.text)
        assert response.json()["code"] == "invalid_param", (route, body)
        assert response.json()["status"] == 400
    bad_zone = await client.post(
        f"{ACCOUNT}/timezone", json={"timezone": "Mars/Olympus_Mons"}, headers=member.headers
    )
    assert bad_zone.json()["message"] == "Mars/Olympus_Mons is not a valid timezone."
    short = await client.post(f"{ACCOUNT}/name", json={"name": "ab"}, headers=member.headers)
    assert short.json()["message"] == "Account name must be between 3 and 30 characters."
    malformed = await client.post(
        f"{ACCOUNT}/name",
        content=b'{"name": ',
        headers={**member.headers, "Content-Type": "application/json"},
    )
    assert malformed.status_code == 400
    assert malformed.json()["code"] == "bad_request"
    unchanged = await profile(client, member)
    assert unchanged["name"] == "Original"
    assert unchanged["timezone"] == "UTC"


async def test_cookie_session_update_needs_csrf(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    await create_member(settings, email="cookie@example.com", name="Cookie")
    login = await client.post(
        "/console/api/login", json={"email": "cookie@example.com", "password": DEFAULT_PASSWORD}
    )
    csrf = login.json()["data"]["csrf_token"]
    refused = await client.post(f"{ACCOUNT}/interface-theme", json={"interface_theme": "dark"})
    assert refused.status_code == 401
    assert refused.json()["message"] == "CSRF token is missing or invalid."
    accepted = await client.post(
        f"{ACCOUNT}/interface-theme",
        json={"interface_theme": "dark"},
        headers={"X-CSRF-Token": csrf},
    )
    assert accepted.status_code == 200
    assert accepted.json()["interface_theme"] == "dark"


async def _login(client: httpx.AsyncClient, email: str, password: str) -> httpx.Response:
    return await client.post("/console/api/login", json={"email": email, "password": password})


async def test_change_password_errors(client: httpx.AsyncClient, settings: Settings) -> None:
    member = await create_member(settings)
    url = f"{ACCOUNT}/password"
    mismatch = await client.post(
        url,
        json={
            "password": DEFAULT_PASSWORD,
            "new_password": "brand-new-pass-1",
            "repeat_new_password": "brand-new-pass-2",
        },
        headers=member.headers,
    )
    assert mismatch.status_code == 400
    assert mismatch.json() == {
        "code": "repeat_password_not_match",
        "message": "New password and repeat password does not match.",
        "status": 400,
    }
    for current in ("not-the-password-1", None):
        wrong = await client.post(
            url,
            json={
                "password": current,
                "new_password": "brand-new-pass-1",
                "repeat_new_password": "brand-new-pass-1",
            },
            headers=member.headers,
        )
        assert wrong.status_code == 400
        assert wrong.json() == {
            "code": "current_password_incorrect",
            "message": "Current password is incorrect.",
            "status": 400,
        }
    weak = await client.post(
        url,
        json={
            "password": DEFAULT_PASSWORD,
            "new_password": "short",
            "repeat_new_password": "short",
        },
        headers=member.headers,
    )
    assert weak.status_code == 400
    assert weak.json()["code"] == "invalid_param"
    client.cookies.clear()
    still = await _login(client, member.account.email, DEFAULT_PASSWORD)
    assert still.status_code == 200


async def test_change_password_keeps_this_session_and_signs_out_the_others(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    await create_member(settings, email="change@example.com")
    other = (await _login(client, "change@example.com", DEFAULT_PASSWORD)).json()["data"]
    client.cookies.clear()
    this = (await _login(client, "change@example.com", DEFAULT_PASSWORD)).json()["data"]
    # ``client`` now holds this session's cookies.
    changed = await client.post(
        f"{ACCOUNT}/password",
        json={
            "password": DEFAULT_PASSWORD,
            "new_password": "brand-new-pass-1",
            "repeat_new_password": "brand-new-pass-1",
        },
        headers={"X-CSRF-Token": this["csrf_token"]},
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["is_password_set"] is True

    kept = await client.post("/console/api/refresh-token")
    assert kept.status_code == 200
    client.cookies.clear()
    revoked = await client.post(
        "/console/api/refresh-token", json={"refresh_token": other["refresh_token"]}
    )
    assert revoked.status_code == 401

    assert (await _login(client, "change@example.com", DEFAULT_PASSWORD)).status_code == 401
    assert (await _login(client, "change@example.com", "brand-new-pass-1")).status_code == 200


async def test_an_account_without_password_sets_one_without_current(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    member = await create_member(settings, email="nopass@example.com")
    db = Database(settings)
    try:
        async with db.unit_of_work() as session:
            await session.execute(
                update(Account).where(Account.id == member.account.id).values(password_hash=None)
            )
    finally:
        await db.dispose()
    assert (await profile(client, member))["is_password_set"] is False
    response = await client.post(
        f"{ACCOUNT}/password",
        json={"new_password": "first-pass-123", "repeat_new_password": "first-pass-123"},
        headers=member.headers,
    )
    assert response.status_code == 200, response.text
    assert response.json()["is_password_set"] is True
    assert (await _login(client, "nopass@example.com", "first-pass-123")).status_code == 200
