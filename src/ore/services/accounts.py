"""Accounts: creation, lookup and the profile fields an account edits itself."""

from __future__ import annotations

import functools
import re
import uuid
import zoneinfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from ore.core.errors import InvalidParam
from ore.models import Account, AccountStatus
from ore.models.base import utcnow
from ore.services import passwords, signals


def normalize_email(email: str) -> str:
    return email.strip().lower()


async def get_account(session: AsyncSession, account_id: uuid.UUID) -> Account | None:
    return await session.get(Account, account_id)


async def get_account_by_email(session: AsyncSession, email: str) -> Account | None:
    result = await session.execute(
        select(Account).where(func.lower(Account.email) == normalize_email(email))
    )
    return result.scalar_one_or_none()


async def create_account(
    session: AsyncSession,
    *,
    email: str,
    name: str,
    password: str | None = None,
    status: AccountStatus = AccountStatus.ACTIVE,
    interface_language: str = "en-US",
    timezone: str = "UTC",
) -> Account:
    account = Account(
        email=normalize_email(email),
        name=name,
        password_hash=await passwords.hash_password(password) if password else None,
        status=status,
        interface_language=interface_language,
        timezone=timezone,
        initialized_at=utcnow() if status == AccountStatus.ACTIVE else None,
    )
    session.add(account)
    await session.flush()
    signals.account_created.send(account, session=session)
    return account


# matches Dify: constants/languages.py (the console UI's interface languages)
SUPPORTED_LANGUAGES = (
    "en-US",
    "zh-Hans",
    "zh-Hant",
    "pt-BR",
    "es-ES",
    "fr-FR",
    "de-DE",
    "ja-JP",
    "ko-KR",
    "ru-RU",
    "it-IT",
    "uk-UA",
    "vi-VN",
    "ro-RO",
    "pl-PL",
    "hi-IN",
    "tr-TR",
    "fa-IR",
    "sl-SI",
    "th-TH",
    "id-ID",
    "ar-TN",
)
INTERFACE_THEMES = ("light", "dark")
NAME_MIN_LENGTH = 3
NAME_MAX_LENGTH = 30
# matches Dify: libs/helper.email (a pragmatic shape check, not RFC 5322)
_EMAIL_PATTERN = re.compile(r"^[\w.!#$%&'*+\-/=?^`{|}~]+@([\w-]+\.)+[\w-]{2,}$")


def check_email(email: str) -> str:
    """The normalised email, or 400 ``invalid_param`` when it is not an address."""
    normalized = normalize_email(email)
    if len(normalized) > 255 or not _EMAIL_PATTERN.match(normalized):
        raise InvalidParam(f"{email} is not a valid email.")
    return normalized


def check_language(language: str) -> str:
    if language not in SUPPORTED_LANGUAGES:
        raise InvalidParam(f"{language} is not a valid language.")
    return language


@functools.cache
def _known_timezones() -> frozenset[str]:
    # Scanning the tz database is slow, and it does not change while the process runs.
    return frozenset(zoneinfo.available_timezones()) | {"UTC"}


def check_timezone(timezone: str) -> str:
    """An IANA zone name (``Asia/Tokyo``) known to the tz database."""
    if timezone not in _known_timezones():
        raise InvalidParam(f"{timezone} is not a valid timezone.")
    return timezone


async def _save(session: AsyncSession, account: Account) -> Account:
    account.updated_at = utcnow()
    await session.flush()
    return account


async def update_name(session: AsyncSession, account: Account, name: str) -> Account:
    """matches Dify: POST /account/name (3 to 30 characters)."""
    name = name.strip()
    if not NAME_MIN_LENGTH <= len(name) <= NAME_MAX_LENGTH:
        raise InvalidParam(
            f"Account name must be between {NAME_MIN_LENGTH} and {NAME_MAX_LENGTH} characters."
        )
    account.name = name
    return await _save(session, account)


async def update_avatar(session: AsyncSession, account: Account, avatar: str) -> Account:
    """The avatar is an upload-file id or a URL, as in Dify."""
    avatar = avatar.strip()
    if not avatar or len(avatar) > 255:
        raise InvalidParam("Avatar must be an upload file id or a URL of at most 255 characters.")
    account.avatar = avatar
    return await _save(session, account)


async def update_interface_language(
    session: AsyncSession, account: Account, language: str
) -> Account:
    account.interface_language = check_language(language)
    return await _save(session, account)


async def update_interface_theme(session: AsyncSession, account: Account, theme: str) -> Account:
    if theme not in INTERFACE_THEMES:
        raise InvalidParam(f"{theme} is not a valid interface theme.")
    account.interface_theme = theme
    return await _save(session, account)


async def update_timezone(session: AsyncSession, account: Account, timezone: str) -> Account:
    account.timezone = check_timezone(timezone)
    return await _save(session, account)


async def record_login(session: AsyncSession, account: Account, ip: str) -> None:
    now = utcnow()
    account.last_login_at = now
    account.last_login_ip = ip[:64]
    account.last_active_at = now
    await session.flush()
