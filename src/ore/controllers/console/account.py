"""The signed-in account's own profile (console spec section 5, "Account object")."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from ore.controllers.console.fields import avatar_url, timestamp
from ore.controllers.cookies import REFRESH_COOKIE, read_cookie
from ore.controllers.deps import CurrentAccount, SessionDep, SettingsDep
from ore.models import Account
from ore.services import accounts, auth

router = APIRouter(prefix="/account", tags=["console: account"])


class AccountOut(BaseModel):
    """matches Dify: fields/member_fields.account_fields (timestamps as unix seconds)."""

    id: str
    name: str
    avatar: str | None
    avatar_url: str | None
    email: str
    is_password_set: bool
    interface_language: str
    interface_theme: str
    timezone: str
    last_login_at: int | None
    last_login_ip: str | None
    created_at: int | None


def account_out(account: Account) -> AccountOut:
    return AccountOut(
        id=str(account.id),
        name=account.name,
        avatar=account.avatar,
        avatar_url=avatar_url(account.avatar),
        email=account.email,
        is_password_set=account.password_hash is not None,
        interface_language=account.interface_language,
        interface_theme=account.interface_theme,
        timezone=account.timezone,
        last_login_at=timestamp(account.last_login_at),
        last_login_ip=account.last_login_ip,
        created_at=timestamp(account.created_at),
    )


class NameUpdate(BaseModel):
    name: str = Field(max_length=255)


class AvatarUpdate(BaseModel):
    avatar: str = Field(max_length=255)


class InterfaceLanguageUpdate(BaseModel):
    interface_language: str = Field(max_length=32)


class InterfaceThemeUpdate(BaseModel):
    interface_theme: Literal["light", "dark"]


class TimezoneUpdate(BaseModel):
    timezone: str = Field(max_length=64)


class PasswordUpdate(BaseModel):
    password: str | None = Field(default=None, max_length=256)
    new_password: str = Field(max_length=256)
    repeat_new_password: str = Field(max_length=256)


@router.get("/profile", summary="The signed-in account")
async def get_profile(account: CurrentAccount) -> AccountOut:
    return account_out(account)


@router.post("/name", summary="Rename the account (3 to 30 characters)")
async def update_name(
    payload: NameUpdate, account: CurrentAccount, session: SessionDep
) -> AccountOut:
    return account_out(await accounts.update_name(session, account, payload.name))


@router.post("/avatar", summary="Set the avatar (upload-file id or URL)")
async def update_avatar(
    payload: AvatarUpdate, account: CurrentAccount, session: SessionDep
) -> AccountOut:
    return account_out(await accounts.update_avatar(session, account, payload.avatar))


@router.post("/interface-language", summary="Set the interface language")
async def update_interface_language(
    payload: InterfaceLanguageUpdate, account: CurrentAccount, session: SessionDep
) -> AccountOut:
    return account_out(
        await accounts.update_interface_language(session, account, payload.interface_language)
    )


@router.post("/interface-theme", summary="Set the interface theme (light or dark)")
async def update_interface_theme(
    payload: InterfaceThemeUpdate, account: CurrentAccount, session: SessionDep
) -> AccountOut:
    return account_out(
        await accounts.update_interface_theme(session, account, payload.interface_theme)
    )


@router.post("/timezone", summary="Set the timezone (an IANA zone name)")
async def update_timezone(
    payload: TimezoneUpdate, account: CurrentAccount, session: SessionDep
) -> AccountOut:
    return account_out(await accounts.update_timezone(session, account, payload.timezone))


@router.post("/password", summary="Change the password; other sessions are signed out")
async def update_password(
    payload: PasswordUpdate,
    request: Request,
    account: CurrentAccount,
    session: SessionDep,
    settings: SettingsDep,
) -> AccountOut:
    await auth.change_password(
        session,
        account,
        current_password=payload.password,
        new_password=payload.new_password,
        repeat_new_password=payload.repeat_new_password,
        keep_refresh_token=read_cookie(request, settings, REFRESH_COOKIE),
    )
    return account_out(account)
