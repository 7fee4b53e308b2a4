"""Console sign-in (console spec sections 2 and 4): login, refresh-token, logout.

Login and refresh both set the three auth cookies and return the tokens in the body
(``data``), so cookie clients (Dify ≥ 1.9.2 UI) and Bearer scripts (Dify ≤ 1.9.1 era) work.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from ore.controllers.cookies import (
    ACCESS_COOKIE,
    REFRESH_COOKIE,
    clear_auth_cookies,
    read_cookie,
    set_auth_cookies,
)
from ore.controllers.deps import (
    ContextDep,
    SessionDep,
    SettingsDep,
    bearer_token,
    client_ip,
    require_setup,
)
from ore.services import auth

router = APIRouter(tags=["console: auth"])

NO_WORKSPACE_MESSAGE = (
    "workspace not found, please contact system admin to invite you to join in a workspace"
)


class LoginPayload(BaseModel):
    email: str = Field(max_length=255)
    password: str = Field(max_length=1024, description="base64 of the UTF-8 password, or plain")
    remember_me: bool = False
    invite_token: str | None = Field(default=None, max_length=255)
    language: str | None = None


def _refresh_failure(message: str) -> JSONResponse:
    # matches Dify: this route's failures are {"result":"fail","message"}, not the envelope.
    return JSONResponse(
        {"result": "fail", "message": message},
        status_code=401,
        headers={"WWW-Authenticate": 'Bearer realm="api"'},
    )


async def _refresh_token_in_body(request: Request) -> str | None:
    """``{"refresh_token": ...}`` when the body is such JSON; anything else counts as none."""
    raw = await request.body()
    if not raw.strip():
        return None
    try:
        data = json.loads(raw)
    except ValueError:
        return None
    value = data.get("refresh_token") if isinstance(data, dict) else None
    return value if isinstance(value, str) and value else None


@router.post(
    "/login",
    summary="Sign in with email and password",
    dependencies=[Depends(require_setup)],
)
async def login(
    payload: LoginPayload,
    request: Request,
    response: Response,
    session: SessionDep,
    context: ContextDep,
) -> dict[str, Any]:
    result = await auth.login(
        session,
        context.kv,
        context.settings,
        email=payload.email,
        password=payload.password,
        ip=client_ip(request),
        invite_token=payload.invite_token,
    )
    if result.tokens is None:
        return {"result": "fail", "data": NO_WORKSPACE_MESSAGE}
    set_auth_cookies(response, context.settings, **result.tokens.as_dict())
    return {"result": "success", "data": result.tokens.as_dict()}


@router.post(
    "/refresh-token", summary="Rotate the refresh token; new access token", response_model=None
)
async def refresh_token(
    request: Request, response: Response, session: SessionDep, settings: SettingsDep
) -> dict[str, Any] | JSONResponse:
    token = await _refresh_token_in_body(request) or read_cookie(request, settings, REFRESH_COOKIE)
    if token is None:
        return _refresh_failure("No refresh token provided")
    pair = await auth.refresh(session, settings, token)
    if pair is None:
        return _refresh_failure("Invalid refresh token")
    set_auth_cookies(response, settings, **pair.as_dict())
    return {"result": "success", "data": pair.as_dict()}


async def _sign_out(
    request: Request, response: Response, session: SessionDep, settings: SettingsDep
) -> dict[str, str]:
    await auth.logout(
        session,
        settings,
        refresh_token=await _refresh_token_in_body(request)
        or read_cookie(request, settings, REFRESH_COOKIE),
        access_token=read_cookie(request, settings, ACCESS_COOKIE) or bearer_token(request),
    )
    clear_auth_cookies(response, settings)
    return {"result": "success"}


@router.post("/logout", summary="Sign out: revoke this session's refresh tokens")
async def logout(
    request: Request, response: Response, session: SessionDep, settings: SettingsDep
) -> dict[str, str]:
    return await _sign_out(request, response, session, settings)


@router.get("/logout", summary="Sign out (the verb of Dify ≤ 1.9.1)")
async def logout_with_get(
    request: Request, response: Response, session: SessionDep, settings: SettingsDep
) -> dict[str, str]:
    return await _sign_out(request, response, session, settings)
