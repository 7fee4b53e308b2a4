"""Secrets at rest: provider credentials sealed with a per-workspace key.

Two layers of keys:

- each workspace has a random 256-bit data key (``tenant_keys``), created on first use;
- that key is stored wrapped (AES-GCM) with a key derived from SECRET_KEY by HKDF-SHA256.

A credentials dict is sealed as a whole with the workspace's data key (AES-256-GCM, a random
96-bit nonce per seal). The associated data names the workspace and the provider, so a blob
copied to another workspace's row or another provider's row fails to open rather than
being used there.

Responses never carry secrets: :func:`obfuscate_credentials` masks the fields the
provider's credential form marks ``secret-input``, and :func:`merge_hidden` lets a client
send ``[__HIDDEN__]`` to keep a stored secret unchanged (Dify's rules, console spec
section 7).
"""

from __future__ import annotations

import base64
import json
import os
import uuid
from collections.abc import Collection, Mapping
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from ore.core.errors import InvalidParam, OreError
from ore.models import TenantKey

HIDDEN = "[__HIDDEN__]"
SEAL_VERSION = "v1"
_NONCE_BYTES = 12
_WRAP_SALT = b"ore/tenant-key-wrap"
_WRAP_INFO = b"ore/tenant-key-wrap/v1"


class SecretKeyMismatch(OreError):
    """A workspace key cannot be unwrapped: SECRET_KEY is not the one it was wrapped with."""

    code = "secret_key_mismatch"
    status = 500
    default_message = (
        "Stored secrets cannot be decrypted: SECRET_KEY differs from the key they were "
        "encrypted with. Restore the previous SECRET_KEY, or re-wrap the workspace keys "
        "with the old and new keys."
    )


class CredentialsUnreadable(OreError):
    """A sealed blob fails to open: tampered, or moved to another workspace or provider."""

    code = "credentials_unreadable"
    status = 500
    default_message = "Stored credentials cannot be decrypted; save them again."


class HiddenWithoutStoredValue(InvalidParam):
    default_message = "A secret sent as [__HIDDEN__] has no stored value to keep."


# Keys -----------------------------------------------------------------------------------


def wrapping_key(secret_key: str) -> bytes:
    """The 256-bit key that wraps workspace keys, derived from SECRET_KEY."""
    if not secret_key:
        raise SecretKeyMismatch("SECRET_KEY is empty; secrets cannot be encrypted.")
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=_WRAP_SALT, info=_WRAP_INFO)
    return hkdf.derive(secret_key.encode("utf-8"))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text.encode("ascii"))


def _seal_bytes(key: bytes, plaintext: bytes, associated: bytes) -> str:
    nonce = os.urandom(_NONCE_BYTES)
    sealed = AESGCM(key).encrypt(nonce, plaintext, associated)
    return f"{SEAL_VERSION}:{_b64(nonce + sealed)}"


def _open_bytes(key: bytes, blob: str, associated: bytes) -> bytes:
    """Raise InvalidTag (or ValueError for a malformed blob) when it does not open."""
    version, _, body = blob.partition(":")
    if version != SEAL_VERSION:
        raise ValueError(f"unknown seal version {version!r}")
    raw = _unb64(body)
    if len(raw) <= _NONCE_BYTES:
        raise ValueError("sealed blob too short")
    return AESGCM(key).decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], associated)


def _wrap_associated(tenant_id: uuid.UUID) -> bytes:
    return b"ore/tenant-key\x00" + tenant_id.bytes


def wrap_tenant_key(secret_key: str, tenant_id: uuid.UUID, data_key: bytes) -> str:
    """A workspace data key sealed with the SECRET_KEY-derived key, bound to the workspace."""
    return _seal_bytes(wrapping_key(secret_key), data_key, _wrap_associated(tenant_id))


def unwrap_tenant_key(secret_key: str, tenant_id: uuid.UUID, wrapped: str) -> bytes:
    """The workspace data key; :class:`SecretKeyMismatch` when SECRET_KEY is not the one."""
    try:
        return _open_bytes(wrapping_key(secret_key), wrapped, _wrap_associated(tenant_id))
    except (InvalidTag, ValueError) as error:
        raise SecretKeyMismatch() from error


async def tenant_data_key(session: AsyncSession, secret_key: str, tenant_id: uuid.UUID) -> bytes:
    """The workspace's data key, created (and wrapped) on first use.

    Two requests may create it at the same moment: the insert ignores a conflict and the
    row that won is read back, so both end up with the same key.
    """
    wrapped = await session.scalar(
        select(TenantKey.wrapped_key).where(TenantKey.tenant_id == tenant_id)
    )
    if wrapped is None:
        candidate = wrap_tenant_key(secret_key, tenant_id, AESGCM.generate_key(bit_length=256))
        # ore runs on PostgreSQL and SQLite only; both speak INSERT ... ON CONFLICT.
        dialect_insert = (
            postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
        )
        statement = (
            dialect_insert(TenantKey)
            .values(tenant_id=tenant_id, wrapped_key=candidate)
            .on_conflict_do_nothing(index_elements=["tenant_id"])
        )
        await session.execute(statement)
        wrapped = await session.scalar(
            select(TenantKey.wrapped_key).where(TenantKey.tenant_id == tenant_id)
        )
        assert wrapped is not None
    return unwrap_tenant_key(secret_key, tenant_id, wrapped)


async def rewrap_tenant_keys(
    session: AsyncSession, old_secret_key: str, new_secret_key: str
) -> int:
    """Re-wrap every workspace key from the old SECRET_KEY to the new one; returns the count.

    Credentials themselves are untouched (they are sealed with the workspace keys), so
    rotating SECRET_KEY costs one small row per workspace.
    """
    rows = (await session.scalars(select(TenantKey))).all()
    for row in rows:
        data_key = unwrap_tenant_key(old_secret_key, row.tenant_id, row.wrapped_key)
        row.wrapped_key = wrap_tenant_key(new_secret_key, row.tenant_id, data_key)
    await session.flush()
    return len(rows)


# Credentials ----------------------------------------------------------------------------


def _credentials_associated(tenant_id: uuid.UUID, provider: str) -> bytes:
    return b"ore/credentials\x00" + tenant_id.bytes + b"\x00" + provider.encode("utf-8")


def seal_credentials(
    data_key: bytes, tenant_id: uuid.UUID, provider: str, credentials: Mapping[str, Any]
) -> str:
    """The text stored in ``encrypted_config``: the dict as JSON, sealed and bound."""
    plaintext = json.dumps(dict(credentials), separators=(",", ":")).encode("utf-8")
    return _seal_bytes(data_key, plaintext, _credentials_associated(tenant_id, provider))


def open_credentials(
    data_key: bytes, tenant_id: uuid.UUID, provider: str, blob: str
) -> dict[str, Any]:
    """The credentials dict; :class:`CredentialsUnreadable` when the blob does not open."""
    try:
        plaintext = _open_bytes(data_key, blob, _credentials_associated(tenant_id, provider))
    except (InvalidTag, ValueError) as error:
        raise CredentialsUnreadable() from error
    value = json.loads(plaintext)
    if not isinstance(value, dict):
        raise CredentialsUnreadable()
    return value


async def encrypt_credentials(
    session: AsyncSession,
    secret_key: str,
    tenant_id: uuid.UUID,
    provider: str,
    credentials: Mapping[str, Any],
) -> str:
    """Seal a credentials dict for one workspace and provider (creates the key if needed)."""
    data_key = await tenant_data_key(session, secret_key, tenant_id)
    return seal_credentials(data_key, tenant_id, provider, credentials)


async def decrypt_credentials(
    session: AsyncSession, secret_key: str, tenant_id: uuid.UUID, provider: str, blob: str
) -> dict[str, Any]:
    """Open what :func:`encrypt_credentials` sealed for the same workspace and provider."""
    data_key = await tenant_data_key(session, secret_key, tenant_id)
    return open_credentials(data_key, tenant_id, provider, blob)


# Responses ------------------------------------------------------------------------------


def obfuscate(value: str) -> str:
    """Dify's mask: ``sk-abc************yz``; a short secret is stars only.

    The number of stars is fixed so the mask does not tell the secret's length.
    """
    if not value:
        return value
    if len(value) <= 8:
        return "*" * 20
    return value[:6] + "*" * 12 + value[-2:]


def obfuscate_credentials(
    credentials: Mapping[str, Any], secret_fields: Collection[str]
) -> dict[str, Any]:
    """A copy with every secret field masked (fields from the provider's credential form)."""
    masked = dict(credentials)
    for name in secret_fields:
        value = masked.get(name)
        if isinstance(value, str) and value:
            masked[name] = obfuscate(value)
        elif value is not None and not isinstance(value, str):
            # A secret that is not a string is never echoed, not even partly.
            masked[name] = "*" * 20
    return masked


def merge_hidden(
    submitted: Mapping[str, Any], stored: Mapping[str, Any], secret_fields: Collection[str]
) -> dict[str, Any]:
    """The credentials to save on update: a secret sent as ``[__HIDDEN__]`` keeps its value.

    Only secret fields honour the marker; elsewhere it is an ordinary string.
    """
    merged = dict(submitted)
    for name in secret_fields:
        if merged.get(name) != HIDDEN:
            continue
        if name not in stored:
            raise HiddenWithoutStoredValue(f"{name} was sent as {HIDDEN} but has no stored value.")
        merged[name] = stored[name]
    return merged
