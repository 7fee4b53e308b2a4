"""Password hashing (Argon2id) and the password policy Dify applies."""

from __future__ import annotations

import asyncio
import re

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from ore.core.errors import InvalidParam

# matches Dify: libs/password.py (at least 8 characters with letters and digits)
PASSWORD_PATTERN = re.compile(r"^(?=.*[a-zA-Z])(?=.*\d).{8,}$")
_MAX_PASSWORD_LENGTH = 256

_hasher = PasswordHasher()  # argon2id with the library's recommended cost
# Verified against when the account does not exist, so both answers take the same time.
_DUMMY_HASH = _hasher.hash("ore-timing-equaliser-0")


def check_password_policy(password: str) -> None:
    if len(password) > _MAX_PASSWORD_LENGTH or not PASSWORD_PATTERN.match(password):
        raise InvalidParam(
            "Password must be at least 8 characters long and contain both letters and digits."
        )


async def hash_password(password: str) -> str:
    return await asyncio.to_thread(_hasher.hash, password)


async def verify_password(password_hash: str | None, password: str) -> bool:
    """Constant-effort check: an account without a password still costs one verification."""

    def _verify() -> bool:
        try:
            return _hasher.verify(password_hash or _DUMMY_HASH, password) and (
                password_hash is not None
            )
        except (VerificationError, InvalidHashError):
            return False

    return await asyncio.to_thread(_verify)


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)
