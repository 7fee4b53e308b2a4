"""Console sign-in: login, throttling, cookies and CSRF, refresh rotation, logout, tokens."""

from __future__ import annotations

import asyncio
import base64
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path

import httpx
import jwt
import pytest
from argon2 import PasswordHasher
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from sqlalchemy import select, update

from ore.app_factory import create_app
from ore.config import Settings
from ore.extensions.database import Database
from ore.models import Account, AccountStatus, RefreshToken, utcnow
from ore.services import accounts, tokens
from tests.conftest import make_settings
from tests.factories import DEFAULT_PASSWORD, create_member, mark_setup

LOGIN = "/console/api/login"
PROFILE = "/console/api/account/profile"
REFRESH = "/console/api/refresh-token"
NO_WORKSPACE = (
    "workspace not found, please contact system admin to invite you to join in a workspace"
)


def b64(text: str) -> str:
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


async def login(client: httpx.AsyncClient, email: str, password: str) -> httpx.Response:
    return await client.post(LOGIN, json={"email": email, "password": password})


async def run_sql(settings: Settings, *statements: object) -> None:
    db = Database(settings)
    try:
        async with db.unit_of_work() as session:
            for statement in statements:
                await session.execute(statement)  # type: ignore[call-overload]
    finally:
        await db.dispose()


# --- login --------------------------------------------------------------------------------


async def test_login_with_plaintext_and_base64_sets_cookies_and_returns_tokens(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    member = await create_member(settings, email="Login@Example.com")
    for password in (DEFAULT_PASSWORD, b64(DEFAULT_PASSWORD)):
        response = await login(client, "LOGIN@example.com", password)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["result"] == "success"
        assert set(body["data"]) == {"access_token", "refresh_token", "csrf_token"}
        assert len(body["data"]["refresh_token"]) == 128
        assert tokens.decode_access_token(settings, body["data"]["access_token"]) == (
            member.account.id
        )
        cookies = {
            header.split("=", 1)[0]: header for header in response.headers.get_list("set-cookie")
        }
        assert set(cookies) == {"access_token", "refresh_token", "csrf_token"}
        assert "HttpOnly" in cookies["access_token"]
        assert "HttpOnly" in cookies["refresh_token"]
        assert "HttpOnly" not in cookies["csrf_token"]
        assert "SameSite=lax" in cookies["access_token"]
        assert response.cookies["csrf_token"] == body["data"]["csrf_token"]


async def test_a_password_that_looks_like_base64_still_works_as_plaintext(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    # "Zm9vYmFyMTIz" is base64 of "foobar123"; as a plaintext password it must work too.
    await create_member(settings, email="b64@example.com", password="Zm9vYmFyMTIz")
    assert (await login(client, "b64@example.com", "Zm9vYmFyMTIz")).status_code == 200
    assert (await login(client, "b64@example.com", b64("Zm9vYmFyMTIz"))).status_code == 200
    assert (await login(client, "b64@example.com", "foobar123")).status_code == 401


async def test_unknown_email_and_wrong_password_answer_identically(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    await create_member(settings, email="known@example.com")
    wrong = await login(client, "known@example.com", "wrong-password-1")
    unknown = await login(client, "nobody@example.com", "wrong-password-1")
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()
    assert wrong.json() == {
        "code": "authentication_failed",
        "message": "Invalid email or password.",
        "status": 401,
    }
    assert wrong.headers["WWW-Authenticate"] == unknown.headers["WWW-Authenticate"]
    assert "set-cookie" not in wrong.headers


async def test_banned_and_closed_accounts(client: httpx.AsyncClient, settings: Settings) -> None:
    banned = await create_member(settings, email="banned@example.com")
    closed = await create_member(settings, email="closed@example.com")
    await run_sql(
        settings,
        update(Account).where(Account.id == banned.account.id).values(status="banned"),
        update(Account).where(Account.id == closed.account.id).values(status="closed"),
    )
    response = await login(client, "banned@example.com", DEFAULT_PASSWORD)
    assert response.status_code == 400
    assert response.json()["code"] == "account_banned"
    # A banned account's access token stops working at once.
    profile = await client.get(PROFILE, headers=banned.headers)
    assert profile.status_code == 401
    assert profile.json()["message"] == "Account is banned."
    assert (await login(client, "closed@example.com", DEFAULT_PASSWORD)).status_code == 401


async def test_account_without_workspace_gets_dify_fail_body(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    db = Database(settings)
    try:
        await mark_setup(db)
        async with db.unit_of_work() as session:
            await accounts.create_account(
                session, email="lonely@example.com", name="Lonely", password=DEFAULT_PASSWORD
            )
    finally:
        await db.dispose()
    response = await login(client, "lonely@example.com", DEFAULT_PASSWORD)
    assert response.status_code == 200
    assert response.json() == {"result": "fail", "data": NO_WORKSPACE}
    assert "set-cookie" not in response.headers


async def test_login_records_last_login_and_rejects_bad_bodies(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    member = await create_member(settings, email="seen@example.com")
    assert (await login(client, "seen@example.com", DEFAULT_PASSWORD)).status_code == 200
    client.cookies.clear()  # the cookie would win over Bearer and then need CSRF
    profile = (await client.get(PROFILE, headers=member.headers)).json()
    assert profile["last_login_ip"] == "203.0.113.7"
    assert isinstance(profile["last_login_at"], int)
    for body in ({"email": "seen@example.com"}, {"email": 1, "password": "x"}, {"password": "x"}):
        response = await client.post(LOGIN, json=body)
        assert response.status_code == 400
        assert response.json()["code"] == "invalid_param"
    empty = await client.post(LOGIN)
    assert empty.status_code == 400
    assert empty.json()["code"] == "bad_request"


async def test_a_weak_stored_hash_is_upgraded_on_login(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    member = await create_member(settings, email="old@example.com")
    weak = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1).hash(DEFAULT_PASSWORD)
    await run_sql(
        settings,
        update(Account).where(Account.id == member.account.id).values(password_hash=weak),
    )
    assert (await login(client, "old@example.com", DEFAULT_PASSWORD)).status_code == 200
    db = Database(settings)
    try:
        async with db.unit_of_work() as session:
            stored = await session.scalar(
                select(Account.password_hash).where(Account.id == member.account.id)
            )
    finally:
        await db.dispose()
    assert stored is not None
    assert stored != weak
    assert stored.startswith("$argon2id$")
    assert (await login(client, "old@example.com", DEFAULT_PASSWORD)).status_code == 200


# --- throttling ---------------------------------------------------------------------------


@pytest.fixture
async def throttled_app(
    database_url: str, tmp_path: Path, _clean_tables: None
) -> AsyncIterator[FastAPI]:
    settings = make_settings(
        database_url,
        tmp_path,
        LOGIN_MAX_FAILURES_PER_EMAIL=3,
        LOGIN_MAX_FAILURES_PER_IP=5,
        LOGIN_LOCKOUT_SECONDS=600,
    )
    application = create_app(settings)
    async with LifespanManager(application, startup_timeout=60, shutdown_timeout=60):
        yield application


@asynccontextmanager
async def client_from(app: FastAPI, ip: str) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=(ip, 1234))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


def assert_throttled(response: httpx.Response) -> None:
    assert response.status_code == 429, response.text
    assert response.json() == {
        "code": "email_code_login_limit",
        "message": "Too many incorrect password attempts. Please try again later.",
        "status": 429,
    }
    assert 0 < int(response.headers["Retry-After"]) <= 600


async def test_failures_per_email_lock_the_email_from_every_ip(throttled_app: FastAPI) -> None:
    await create_member(throttled_app.state.settings, email="target@example.com")
    async with client_from(throttled_app, "198.51.100.1") as first:
        for _ in range(3):
            assert (await login(first, "target@example.com", "guess-123")).status_code == 401
        assert_throttled(await login(first, "target@example.com", DEFAULT_PASSWORD))
    async with client_from(throttled_app, "198.51.100.2") as second:
        # Even the right password from another address is refused while locked.
        assert_throttled(await login(second, "target@example.com", DEFAULT_PASSWORD))
        assert (await login(second, "other@example.com", "guess-123")).status_code == 401


async def test_a_successful_login_resets_the_email_counter(throttled_app: FastAPI) -> None:
    await create_member(throttled_app.state.settings, email="reset@example.com")
    async with client_from(throttled_app, "198.51.100.3") as http:
        for _ in range(2):
            assert (await login(http, "reset@example.com", "guess-123")).status_code == 401
        assert (await login(http, "reset@example.com", DEFAULT_PASSWORD)).status_code == 200
    async with client_from(throttled_app, "198.51.100.4") as http:
        for _ in range(2):
            assert (await login(http, "reset@example.com", "guess-123")).status_code == 401
        # 4 failures in all, but only 2 since the success: still allowed.
        assert (await login(http, "reset@example.com", DEFAULT_PASSWORD)).status_code == 200


async def test_failures_per_ip_lock_that_ip_for_every_email(throttled_app: FastAPI) -> None:
    await create_member(throttled_app.state.settings, email="victim@example.com")
    async with client_from(throttled_app, "192.0.2.50") as attacker:
        for index in range(5):
            response = await login(attacker, f"spray-{index}@example.com", "guess-123")
            assert response.status_code == 401
        assert_throttled(await login(attacker, "victim@example.com", DEFAULT_PASSWORD))
    async with client_from(throttled_app, "192.0.2.51") as someone_else:
        assert (await login(someone_else, "victim@example.com", DEFAULT_PASSWORD)).status_code == (
            200
        )


# --- cookies, CSRF and access tokens ------------------------------------------------------


async def test_cookie_session_requires_the_csrf_header(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    await create_member(settings, email="csrf@example.com")
    data = (await login(client, "csrf@example.com", DEFAULT_PASSWORD)).json()["data"]
    csrf_failure = {
        "code": "unauthorized",
        "message": "CSRF token is missing or invalid.",
        "status": 401,
    }
    missing = await client.get(PROFILE)
    assert missing.status_code == 401
    assert missing.json() == csrf_failure
    mismatched = await client.get(PROFILE, headers={"X-CSRF-Token": "something-else"})
    assert mismatched.status_code == 401
    assert mismatched.json() == csrf_failure
    ok = await client.get(PROFILE, headers={"X-CSRF-Token": data["csrf_token"]})
    assert ok.status_code == 200
    assert ok.json()["email"] == "csrf@example.com"
    # A POST through the cookie session needs it too.
    rename = await client.post("/console/api/account/name", json={"name": "Via Cookie"})
    assert rename.status_code == 401
    assert rename.json() == csrf_failure

    # A CSRF token signed for another account does not pass, even when cookie == header.
    other = tokens.issue_csrf_token(settings, uuid.uuid4())
    client.cookies.set("csrf_token", other)
    forged = await client.get(PROFILE, headers={"X-CSRF-Token": other})
    assert forged.status_code == 401
    assert forged.json() == csrf_failure

    # Bearer without cookies needs no CSRF header.
    client.cookies.clear()
    bearer = await client.get(PROFILE, headers={"Authorization": f"bearer {data['access_token']}"})
    assert bearer.status_code == 200


async def test_bad_access_tokens_get_dify_messages(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    member = await create_member(settings)
    good = tokens.issue_access_token(settings, member.account.id)
    header, payload, signature = good.split(".")
    tampered_signature = f"{header}.{payload}.{signature[:-4]}AAAA"
    expired = jwt.encode(
        {
            "user_id": str(member.account.id),
            "exp": utcnow() - timedelta(minutes=1),
            "iss": settings.EDITION,
            "sub": tokens.ACCESS_SUBJECT,
        },
        settings.SECRET_KEY,
        algorithm="HS256",
    )
    other_key = jwt.encode(
        {"user_id": str(member.account.id), "exp": utcnow() + timedelta(minutes=5)},
        "another-secret-key-that-is-long-enough-0123456789",
        algorithm="HS256",
    )
    passport = jwt.encode(
        {
            "user_id": str(member.account.id),
            "exp": utcnow() + timedelta(minutes=5),
            "sub": tokens.ACCESS_SUBJECT,
            "token_source": "webapp",
        },
        settings.SECRET_KEY,
        algorithm="HS256",
    )
    unknown_account = tokens.issue_access_token(settings, uuid.uuid4())
    cases = {
        None: "Invalid Authorization token.",
        "garbage": "Invalid token.",
        tampered_signature: "Invalid token signature.",
        other_key: "Invalid token signature.",
        expired: "Token has expired.",
        passport: "Invalid token.",
        unknown_account: "Invalid Authorization token.",
    }
    for token, message in cases.items():
        headers = {} if token is None else {"Authorization": f"Bearer {token}"}
        response = await client.get(PROFILE, headers=headers)
        assert response.status_code == 401, token
        assert response.json() == {"code": "unauthorized", "message": message, "status": 401}
        assert response.headers["WWW-Authenticate"] == 'Bearer realm="api"'
    assert (await client.get(PROFILE, headers={"Authorization": f"Bearer {good}"})).status_code == (
        200
    )


# --- refresh ------------------------------------------------------------------------------


async def test_refresh_with_cookie_rotates_and_reuse_revokes_the_family(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    await create_member(settings, email="rotate@example.com")
    first = (await login(client, "rotate@example.com", DEFAULT_PASSWORD)).json()["data"]

    rotated = await client.post(REFRESH)  # the refresh cookie is the credential
    assert rotated.status_code == 200, rotated.text
    second = rotated.json()["data"]
    assert rotated.json()["result"] == "success"
    assert second["refresh_token"] != first["refresh_token"]
    assert rotated.cookies["refresh_token"] == second["refresh_token"]
    assert rotated.cookies["access_token"] == second["access_token"]
    assert tokens.decode_access_token(settings, second["access_token"])

    client.cookies.clear()
    reused = await client.post(REFRESH, json={"refresh_token": first["refresh_token"]})
    assert reused.status_code == 401
    assert reused.json() == {"result": "fail", "message": "Invalid refresh token"}
    # The reuse revoked the family: the newest token of that login is dead too.
    newest = await client.post(REFRESH, json={"refresh_token": second["refresh_token"]})
    assert newest.status_code == 401
    assert newest.json() == {"result": "fail", "message": "Invalid refresh token"}


async def test_refresh_with_body_and_other_families_survive(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    await create_member(settings, email="families@example.com")
    laptop = (await login(client, "families@example.com", DEFAULT_PASSWORD)).json()["data"]
    phone = (await login(client, "families@example.com", DEFAULT_PASSWORD)).json()["data"]
    client.cookies.clear()
    assert (await client.post(REFRESH, json={"refresh_token": laptop["refresh_token"]})).is_success
    # Replaying the laptop's old token kills the laptop family only.
    replay = await client.post(REFRESH, json={"refresh_token": laptop["refresh_token"]})
    assert replay.status_code == 401
    client.cookies.clear()
    phone_refresh = await client.post(REFRESH, json={"refresh_token": phone["refresh_token"]})
    assert phone_refresh.status_code == 200
    new_access = phone_refresh.json()["data"]["access_token"]
    client.cookies.clear()
    assert (
        await client.get(PROFILE, headers={"Authorization": f"Bearer {new_access}"})
    ).status_code == 200


async def test_refresh_failures(client: httpx.AsyncClient, settings: Settings) -> None:
    member = await create_member(settings, email="expiry@example.com")
    missing = await client.post(REFRESH)
    assert missing.status_code == 401
    assert missing.json() == {"result": "fail", "message": "No refresh token provided"}
    assert (await client.post(REFRESH, content=b"not json")).json()["message"] == (
        "No refresh token provided"
    )
    unknown = await client.post(REFRESH, json={"refresh_token": "f" * 128})
    assert unknown.status_code == 401
    assert unknown.json() == {"result": "fail", "message": "Invalid refresh token"}

    data = (await login(client, "expiry@example.com", DEFAULT_PASSWORD)).json()["data"]
    client.cookies.clear()
    await run_sql(
        settings,
        update(RefreshToken)
        .where(RefreshToken.account_id == member.account.id)
        .values(expires_at=utcnow() - timedelta(seconds=1)),
    )
    expired = await client.post(REFRESH, json={"refresh_token": data["refresh_token"]})
    assert expired.status_code == 401
    assert expired.json() == {"result": "fail", "message": "Invalid refresh token"}


async def test_refresh_refused_for_a_banned_account(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    member = await create_member(settings, email="later-banned@example.com")
    data = (await login(client, "later-banned@example.com", DEFAULT_PASSWORD)).json()["data"]
    client.cookies.clear()
    await run_sql(
        settings,
        update(Account).where(Account.id == member.account.id).values(status=AccountStatus.BANNED),
    )
    response = await client.post(REFRESH, json={"refresh_token": data["refresh_token"]})
    assert response.status_code == 401


async def test_two_racing_refreshes_with_one_token_cannot_both_win(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    await create_member(settings, email="race@example.com")
    data = (await login(client, "race@example.com", DEFAULT_PASSWORD)).json()["data"]
    client.cookies.clear()
    body = {"refresh_token": data["refresh_token"]}
    responses = await asyncio.gather(
        client.post(REFRESH, json=body), client.post(REFRESH, json=body)
    )
    assert sorted(response.status_code for response in responses) == [200, 401]


# --- logout -------------------------------------------------------------------------------


async def test_logout_revokes_the_session_and_clears_cookies(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    await create_member(settings, email="bye@example.com")
    data = (await login(client, "bye@example.com", DEFAULT_PASSWORD)).json()["data"]
    response = await client.post("/console/api/logout")
    assert response.status_code == 200
    assert response.json() == {"result": "success"}
    cleared = response.headers.get_list("set-cookie")
    assert len(cleared) == 3
    assert all("Max-Age=0" in header for header in cleared)
    assert not client.cookies
    refresh = await client.post(REFRESH, json={"refresh_token": data["refresh_token"]})
    assert refresh.status_code == 401


async def test_get_logout_with_bearer_revokes_every_session(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    await create_member(settings, email="everywhere@example.com")
    one = (await login(client, "everywhere@example.com", DEFAULT_PASSWORD)).json()["data"]
    two = (await login(client, "everywhere@example.com", DEFAULT_PASSWORD)).json()["data"]
    client.cookies.clear()
    response = await client.get(
        "/console/api/logout", headers={"Authorization": f"Bearer {one['access_token']}"}
    )
    assert response.status_code == 200
    for data in (one, two):
        refresh = await client.post(REFRESH, json={"refresh_token": data["refresh_token"]})
        assert refresh.status_code == 401


async def test_logout_without_credentials_still_succeeds(client: httpx.AsyncClient) -> None:
    response = await client.post("/console/api/logout")
    assert response.status_code == 200
    assert response.json() == {"result": "success"}
