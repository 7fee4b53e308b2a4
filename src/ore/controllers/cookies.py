"""Console auth cookies, named and flagged as Dify names them (console spec section 2.2)."""

from __future__ import annotations

from fastapi import Request, Response

from ore.config import Settings

ACCESS_COOKIE = "access_token"
REFRESH_COOKIE = "refresh_token"
CSRF_COOKIE = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"


def _secure(settings: Settings) -> bool:
    return settings.CONSOLE_WEB_URL.startswith("https") and settings.CONSOLE_API_URL.startswith(
        "https"
    )


def cookie_name(settings: Settings, base: str) -> str:
    if _secure(settings) and not settings.COOKIE_DOMAIN:
        return f"__Host-{base}"
    return base


def read_cookie(request: Request, settings: Settings, base: str) -> str | None:
    value = request.cookies.get(cookie_name(settings, base))
    if value is None:
        # Accept either spelling: a deployment that changed its URLs keeps its sessions.
        value = request.cookies.get(base) or request.cookies.get(f"__Host-{base}")
    return value or None


def set_auth_cookies(
    response: Response,
    settings: Settings,
    *,
    access_token: str,
    refresh_token: str,
    csrf_token: str,
) -> None:
    access_age = settings.ACCESS_TOKEN_EXPIRE_MINUTES * 60
    refresh_age = int(settings.REFRESH_TOKEN_EXPIRE_DAYS * 86400)
    domain = settings.COOKIE_DOMAIN.lstrip(".") or None
    secure = _secure(settings)
    for base, value, age, http_only in (
        (ACCESS_COOKIE, access_token, access_age, True),
        (REFRESH_COOKIE, refresh_token, refresh_age, True),
        (CSRF_COOKIE, csrf_token, access_age, False),
    ):
        response.set_cookie(
            cookie_name(settings, base),
            value,
            max_age=age,
            path="/",
            domain=domain,
            secure=secure,
            httponly=http_only,
            samesite="lax",
        )


def clear_auth_cookies(response: Response, settings: Settings) -> None:
    domain = settings.COOKIE_DOMAIN.lstrip(".") or None
    for base in (ACCESS_COOKIE, REFRESH_COOKIE, CSRF_COOKIE):
        response.set_cookie(
            cookie_name(settings, base),
            "",
            expires=0,
            max_age=0,
            path="/",
            domain=domain,
            secure=_secure(settings),
            httponly=base != CSRF_COOKIE,
            samesite="lax",
        )
