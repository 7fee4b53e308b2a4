"""Secrets at rest: workspace keys, sealed credentials, masking and the [__HIDDEN__] rule."""

from __future__ import annotations

import asyncio
import base64
import uuid
from pathlib import Path

import anyio
import pytest
from click.testing import Result
from sqlalchemy import func, select
from typer.testing import CliRunner

from ore import cli
from ore.config import Settings
from ore.core.errors import InvalidParam
from ore.models import TenantKey
from ore.services import secrets
from tests.factories import create_member, db_session

CREDENTIALS = {
    "openai_api_key": "sk-abcdefghijklmnopqrstuvwxyz0123456789",
    "openai_api_base": "https://llm.example.com/v1",
    "openai_organization": "",
}
SECRET_FIELDS = ["openai_api_key"]


def flip_last_byte(blob: str) -> str:
    version, _, body = blob.partition(":")
    raw = bytearray(base64.urlsafe_b64decode(body))
    raw[-1] ^= 0x01
    return f"{version}:{base64.urlsafe_b64encode(bytes(raw)).decode()}"


# Pure sealing ---------------------------------------------------------------------------


def test_seal_round_trip_and_fresh_nonce_each_time() -> None:
    key, tenant = bytes(range(32)), uuid.uuid4()
    first = secrets.seal_credentials(key, tenant, "openai", CREDENTIALS)
    second = secrets.seal_credentials(key, tenant, "openai", CREDENTIALS)
    assert first != second  # a random nonce per seal
    assert secrets.open_credentials(key, tenant, "openai", first) == CREDENTIALS
    assert secrets.open_credentials(key, tenant, "openai", second) == CREDENTIALS


def test_ciphertext_contains_no_plaintext() -> None:
    blob = secrets.seal_credentials(bytes(32), uuid.uuid4(), "openai", CREDENTIALS)
    decoded = base64.urlsafe_b64decode(blob.partition(":")[2])
    for text in ("sk-abcdef", "llm.example.com", "openai_api_key"):
        assert text not in blob
        assert text.encode() not in decoded


@pytest.mark.parametrize(
    ("tenant_changes", "provider"),
    [(True, "openai"), (False, "anthropic"), (False, "openai/"), (True, "anthropic")],
)
def test_blob_bound_to_tenant_and_provider(tenant_changes: bool, provider: str) -> None:
    key, tenant = bytes(32), uuid.uuid4()
    blob = secrets.seal_credentials(key, tenant, "openai", CREDENTIALS)
    other_tenant = uuid.uuid4() if tenant_changes else tenant
    with pytest.raises(secrets.CredentialsUnreadable):
        secrets.open_credentials(key, other_tenant, provider, blob)


@pytest.mark.parametrize(
    "mangle",
    [
        flip_last_byte,
        lambda blob: blob[:-8],
        lambda blob: "v1:",
        lambda blob: "v9" + blob[2:],
        lambda blob: "not a blob",
    ],
)
def test_tampered_or_malformed_blob_fails(mangle: object) -> None:
    key, tenant = bytes(32), uuid.uuid4()
    blob = secrets.seal_credentials(key, tenant, "openai", CREDENTIALS)
    assert callable(mangle)
    with pytest.raises(secrets.CredentialsUnreadable):
        secrets.open_credentials(key, tenant, "openai", mangle(blob))


def test_wrong_data_key_fails() -> None:
    tenant = uuid.uuid4()
    blob = secrets.seal_credentials(bytes(32), tenant, "openai", CREDENTIALS)
    with pytest.raises(secrets.CredentialsUnreadable):
        secrets.open_credentials(b"\x01" * 32, tenant, "openai", blob)


def test_wrapped_key_needs_the_same_secret_key_and_tenant() -> None:
    tenant, data_key = uuid.uuid4(), bytes(range(32))
    wrapped = secrets.wrap_tenant_key("old-secret", tenant, data_key)
    assert secrets.unwrap_tenant_key("old-secret", tenant, wrapped) == data_key
    with pytest.raises(secrets.SecretKeyMismatch, match="SECRET_KEY differs"):
        secrets.unwrap_tenant_key("new-secret", tenant, wrapped)
    with pytest.raises(secrets.SecretKeyMismatch):
        secrets.unwrap_tenant_key("old-secret", uuid.uuid4(), wrapped)
    with pytest.raises(secrets.SecretKeyMismatch, match="empty"):
        secrets.wrap_tenant_key("", tenant, data_key)


# Masking and [__HIDDEN__] ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("sk-abcdefghijklmnopqrstuvwxyz", "sk-abc************yz"),
        ("123456789", "123456************89"),
        ("12345678", "*" * 20),
        ("abc", "*" * 20),
        ("", ""),
    ],
)
def test_obfuscate_shapes(value: str, expected: str) -> None:
    assert secrets.obfuscate(value) == expected


def test_obfuscate_length_does_not_leak() -> None:
    assert len(secrets.obfuscate("x" * 9)) == len(secrets.obfuscate("x" * 200))


def test_obfuscate_credentials_masks_only_secret_fields() -> None:
    given = {**CREDENTIALS, "number_secret": 12345, "absent_is_fine": None}
    masked = secrets.obfuscate_credentials(
        given, [*SECRET_FIELDS, "number_secret", "absent_is_fine", "not_present"]
    )
    assert masked["openai_api_key"] == "sk-abc************89"
    assert masked["openai_api_base"] == CREDENTIALS["openai_api_base"]
    assert masked["openai_organization"] == ""
    assert masked["number_secret"] == "*" * 20
    assert masked["absent_is_fine"] is None
    assert "not_present" not in masked
    assert given["openai_api_key"] == CREDENTIALS["openai_api_key"]  # input untouched


def test_hidden_keeps_the_stored_secret() -> None:
    submitted = {
        "openai_api_key": secrets.HIDDEN,
        "openai_api_base": "https://other.example.com/v1",
    }
    merged = secrets.merge_hidden(submitted, CREDENTIALS, SECRET_FIELDS)
    assert merged == {
        "openai_api_key": CREDENTIALS["openai_api_key"],
        "openai_api_base": "https://other.example.com/v1",
    }


def test_hidden_on_a_plain_field_is_just_a_value_and_new_secret_replaces() -> None:
    submitted = {"openai_api_key": "sk-new-key-000000", "openai_api_base": secrets.HIDDEN}
    merged = secrets.merge_hidden(submitted, CREDENTIALS, SECRET_FIELDS)
    assert merged == submitted


def test_hidden_without_stored_value_is_invalid_param() -> None:
    with pytest.raises(InvalidParam, match="openai_api_key"):
        secrets.merge_hidden({"openai_api_key": secrets.HIDDEN}, {}, SECRET_FIELDS)


# With the database ----------------------------------------------------------------------


async def key_rows(settings: Settings) -> int:
    async with db_session(settings) as session:
        return int(await session.scalar(select(func.count()).select_from(TenantKey)) or 0)


async def test_round_trip_through_the_workspace_key(settings: Settings) -> None:
    member = await create_member(settings)
    tenant_id = member.tenant.id
    assert await key_rows(settings) == 0
    async with db_session(settings) as session:
        blob = await secrets.encrypt_credentials(
            session, settings.SECRET_KEY, tenant_id, "openai", CREDENTIALS
        )
    assert await key_rows(settings) == 1  # created lazily, once
    async with db_session(settings) as session:
        stored = await session.get(TenantKey, tenant_id)
        assert stored is not None
        assert settings.SECRET_KEY not in stored.wrapped_key
        opened = await secrets.decrypt_credentials(
            session, settings.SECRET_KEY, tenant_id, "openai", blob
        )
    assert opened == CREDENTIALS
    assert await key_rows(settings) == 1


async def test_each_workspace_has_its_own_key(settings: Settings) -> None:
    a = await create_member(settings)
    b = await create_member(settings)
    async with db_session(settings) as session:
        key_a = await secrets.tenant_data_key(session, settings.SECRET_KEY, a.tenant.id)
        key_b = await secrets.tenant_data_key(session, settings.SECRET_KEY, b.tenant.id)
        blob = await secrets.encrypt_credentials(
            session, settings.SECRET_KEY, a.tenant.id, "openai", CREDENTIALS
        )
    assert key_a != key_b
    async with db_session(settings) as session:
        with pytest.raises(secrets.CredentialsUnreadable):
            # Even if b's row claimed a's tenant id in the associated data, b's key is wrong.
            secrets.open_credentials(key_b, a.tenant.id, "openai", blob)
        with pytest.raises(secrets.CredentialsUnreadable):
            await secrets.decrypt_credentials(
                session, settings.SECRET_KEY, b.tenant.id, "openai", blob
            )


async def test_concurrent_first_use_creates_one_key(settings: Settings) -> None:
    member = await create_member(settings)

    async def fetch() -> bytes:
        async with db_session(settings) as session:
            return await secrets.tenant_data_key(session, settings.SECRET_KEY, member.tenant.id)

    keys = await asyncio.gather(*(fetch() for _ in range(4)))
    assert len(set(keys)) == 1
    assert await key_rows(settings) == 1


async def test_rotating_secret_key_without_rewrap_fails_clearly(settings: Settings) -> None:
    member = await create_member(settings)
    async with db_session(settings) as session:
        blob = await secrets.encrypt_credentials(
            session, settings.SECRET_KEY, member.tenant.id, "openai", CREDENTIALS
        )
    rotated = "a-brand-new-secret-key-0123456789-abcdefgh"
    async with db_session(settings) as session:
        with pytest.raises(secrets.SecretKeyMismatch) as caught:
            await secrets.decrypt_credentials(session, rotated, member.tenant.id, "openai", blob)
    assert caught.value.code == "secret_key_mismatch"
    assert "Restore the previous SECRET_KEY" in caught.value.message


async def test_rewrap_moves_workspace_keys_to_the_new_secret_key(settings: Settings) -> None:
    member = await create_member(settings)
    old, new = settings.SECRET_KEY, "a-brand-new-secret-key-0123456789-abcdefgh"
    async with db_session(settings) as session:
        blob = await secrets.encrypt_credentials(
            session, old, member.tenant.id, "openai", CREDENTIALS
        )
    async with db_session(settings) as session:
        assert await secrets.rewrap_tenant_keys(session, old, new) == 1
    async with db_session(settings) as session:
        opened = await secrets.decrypt_credentials(session, new, member.tenant.id, "openai", blob)
        assert opened == CREDENTIALS
        with pytest.raises(secrets.SecretKeyMismatch):
            await secrets.tenant_data_key(session, old, member.tenant.id)


async def test_cli_rewrap_then_the_new_key_opens_and_a_wrong_old_key_is_refused(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    member = await create_member(settings)
    old, new = settings.SECRET_KEY, "a-brand-new-secret-key-0123456789-abcdefgh"
    async with db_session(settings) as session:
        blob = await secrets.encrypt_credentials(
            session, old, member.tenant.id, "openai", CREDENTIALS
        )
    monkeypatch.chdir(tmp_path)  # no stray .env is read
    for name, value in {
        "SQLALCHEMY_DATABASE_URI": settings.SQLALCHEMY_DATABASE_URI,
        "DATA_DIR": str(tmp_path),
        "SECRET_KEY": new,
        "LOG_LEVEL": "WARNING",
    }.items():
        monkeypatch.setenv(name, value)

    def rewrap(old_key: str) -> Result:
        return CliRunner().invoke(cli.app, ["secrets", "rewrap"], env={"OLD_SECRET_KEY": old_key})

    wrong = await anyio.to_thread.run_sync(rewrap, "not-the-old-key")
    assert wrong.exit_code == 1
    assert "secret_key_mismatch" in wrong.output
    done = await anyio.to_thread.run_sync(rewrap, old)
    assert done.exit_code == 0, done.output
    assert "re-wrapped 1 workspace keys" in done.output
    async with db_session(settings) as session:
        opened = await secrets.decrypt_credentials(session, new, member.tenant.id, "openai", blob)
    assert opened == CREDENTIALS
