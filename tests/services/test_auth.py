"""The auth and setup services without HTTP: password decoding, rotation races, revocation."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from ore.config import Settings
from ore.core.errors import InvalidParam
from ore.core.kv.memory import MemoryKV
from ore.extensions.database import Database
from ore.models import Account, Invitation, RefreshToken, Setup, utcnow
from ore.services import auth, setup, tokens
from tests.factories import DEFAULT_PASSWORD, create_member


@pytest.fixture
async def db(settings: Settings) -> AsyncIterator[Database]:
    database = Database(settings)
    try:
        yield database
    finally:
        await database.dispose()


def test_password_candidates_accept_both_eras() -> None:
    encoded = base64.b64encode("pässwörd-1".encode()).decode()
    assert auth.password_candidates(encoded) == ["pässwörd-1", encoded]
    # Not base64 at all, or base64 of bytes that are not printable UTF-8: plaintext only.
    assert auth.password_candidates("not base64!") == ["not base64!"]
    assert auth.password_candidates("abcd1234") == ["abcd1234"]
    control = base64.b64encode(b"\x00\x01secret").decode()
    assert auth.password_candidates(control) == [control]
    assert auth.password_candidates("") == [""]


async def test_first_admin_stores_argon2id_and_refuses_a_second(
    settings: Settings, db: Database
) -> None:
    async with db.unit_of_work() as session:
        account = await setup.create_first_admin(
            session, email=" Root@Example.COM ", name="Root", password="root-pass-1"
        )
    assert account.email == "root@example.com"
    assert account.password_hash is not None
    assert account.password_hash.startswith("$argon2id$")
    async with db.unit_of_work() as session:
        assert await setup.setup_status(session) is not None
        with pytest.raises(setup.AlreadySetup):
            await setup.create_first_admin(
                session, email="two@example.com", name="Two", password="root-pass-2"
            )


async def test_racing_setups_create_one_admin(settings: Settings, db: Database) -> None:
    async def attempt(index: int) -> str:
        try:
            async with db.unit_of_work() as session:
                await setup.create_first_admin(
                    session, email=f"admin{index}@example.com", name="A", password="racing-pass-1"
                )
        except setup.AlreadySetup:
            return "refused"
        return "created"

    outcomes = await asyncio.gather(attempt(1), attempt(2))
    assert sorted(outcomes) == ["created", "refused"]
    async with db.unit_of_work() as session:
        assert await session.scalar(select(func.count()).select_from(Account)) == 1
        assert await session.scalar(select(func.count()).select_from(Setup)) == 1


async def test_first_admin_rejects_a_weak_password(settings: Settings, db: Database) -> None:
    async with db.unit_of_work() as session:
        with pytest.raises(InvalidParam):
            await setup.create_first_admin(
                session, email="a@example.com", name="A", password="weak"
            )


async def _login(db: Database, settings: Settings, email: str) -> auth.TokenPair:
    async with db.unit_of_work() as session:
        result = await auth.login(
            session, MemoryKV(), settings, email=email, password=DEFAULT_PASSWORD, ip="127.0.0.1"
        )
    assert result.tokens is not None
    return result.tokens


async def _refresh(db: Database, settings: Settings, token: str) -> auth.TokenPair | None:
    async with db.unit_of_work() as session:
        return await auth.refresh(session, settings, token)


async def test_racing_rotations_of_one_token_yield_one_pair(
    settings: Settings, db: Database
) -> None:
    await create_member(settings, email="race@example.com")
    pair = await _login(db, settings, "race@example.com")
    results = await asyncio.gather(
        _refresh(db, settings, pair.refresh_token), _refresh(db, settings, pair.refresh_token)
    )
    winners = [result for result in results if result is not None]
    assert len(winners) == 1
    # The loser presented a used token: the family is revoked, the winner's token with it.
    assert await _refresh(db, settings, winners[0].refresh_token) is None


async def test_reuse_revokes_only_that_family(settings: Settings, db: Database) -> None:
    await create_member(settings, email="family@example.com")
    first = await _login(db, settings, "family@example.com")
    other = await _login(db, settings, "family@example.com")
    second = await _refresh(db, settings, first.refresh_token)
    assert second is not None
    assert await _refresh(db, settings, first.refresh_token) is None
    assert await _refresh(db, settings, second.refresh_token) is None
    assert await _refresh(db, settings, other.refresh_token) is not None
    async with db.unit_of_work() as session:
        rows = (await session.execute(select(RefreshToken))).scalars().all()
    assert all(len(row.token_hash) == 64 for row in rows)
    stored = {row.token_hash for row in rows}
    assert first.refresh_token not in stored  # only digests are stored


async def test_logout_ignores_invalid_tokens(settings: Settings, db: Database) -> None:
    member = await create_member(settings, email="logout@example.com")
    pair = await _login(db, settings, "logout@example.com")
    async with db.unit_of_work() as session:
        await auth.logout(session, settings, refresh_token=None, access_token="garbage")
        await auth.logout(session, settings, refresh_token="f" * 128, access_token=None)
    assert await _refresh(db, settings, pair.refresh_token) is not None
    async with db.unit_of_work() as session:
        await auth.logout(
            session, settings, refresh_token=None, access_token=member.headers["Authorization"][7:]
        )
        live = await session.scalar(
            select(func.count()).select_from(RefreshToken).where(RefreshToken.revoked_at.is_(None))
        )
    assert live == 0


async def test_login_with_a_valid_invitation_for_another_email_is_refused(
    settings: Settings, db: Database
) -> None:
    member = await create_member(settings, email="invited@example.com")
    async with db.unit_of_work() as session:
        session.add(
            Invitation(
                tenant_id=member.tenant.id,
                account_id=member.account.id,
                email="someone-else@example.com",
                role="normal",
                token_hash=tokens.token_digest("invite-token"),
                expires_at=utcnow() + timedelta(hours=1),
            )
        )
    async with db.unit_of_work() as session:
        with pytest.raises(auth.InvalidEmail):
            await auth.login(
                session,
                MemoryKV(),
                settings,
                email="invited@example.com",
                password=DEFAULT_PASSWORD,
                ip="127.0.0.1",
                invite_token="invite-token",
            )
        result = await auth.login(
            session,
            MemoryKV(),
            settings,
            email="invited@example.com",
            password=DEFAULT_PASSWORD,
            ip="127.0.0.1",
            invite_token="unknown-token",
        )
        assert result.tokens is not None
