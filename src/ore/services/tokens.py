"""Console tokens: the access JWT, the CSRF JWT and opaque refresh tokens.

matches Dify: libs/passport.py, libs/token.py (HS256 signed with SECRET_KEY; access payload
``user_id``, ``exp``, ``iss`` = edition, ``sub`` = "Console API Passport").
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import timedelta

import jwt

from ore.config import Settings
from ore.core.errors import Unauthorized
from ore.models.base import utcnow

ACCESS_SUBJECT = "Console API Passport"


class InvalidToken(Unauthorized):
    """401 with Dify's token-loader messages."""


def issue_access_token(settings: Settings, account_id: uuid.UUID) -> str:
    payload = {
        "user_id": str(account_id),
        "exp": utcnow() + timedelta(minutes=settings.ACCESS_TOKEN_EXPIRE_MINUTES),
        "iss": settings.EDITION,
        "sub": ACCESS_SUBJECT,
    }
    return jwt.encode(payload, settings.SECRET_KEY, algorithm="HS256")


def decode_access_token(settings: Settings, token: str) -> uuid.UUID:
    try:
        payload = jwt.decode(
            token,
            settings.SECRET_KEY,
            algorithms=["HS256"],
            options={"require": ["exp", "user_id"]},
        )
    except jwt.ExpiredSignatureError as error:
        raise InvalidToken("Token has expired.") from error
    except jwt.InvalidSignatureError as error:
        raise InvalidToken("Invalid token signature.") from error
    except jwt.MissingRequiredClaimError as error:
        raise InvalidToken("Invalid Authorization token.") from error
    except jwt.PyJWTError as error:
        raise InvalidToken("Invalid token.") from error
    # A web-app passport carries token_source and is never a console credential.
    if payload.get("sub") != ACCESS_SUBJECT or "token_source" in payload:
        raise InvalidToken("Invalid token.")
    try:
        return uuid.UUID(str(payload["user_id"]))
    except ValueError as error:
        raise InvalidToken("Invalid Authorization token.") from error


def issue_csrf_token(settings: Settings, account_id: uuid.UUID) -> str:
    payload = {
        "sub": str(account_id),
        "exp": utcnow() + timedelta(minutes=settings.ACCESS_TOKEN_EXPIRE_MINUTES),
    }
    return jwt.encode(payload, settings.SECRET_KEY, algorithm="HS256")


def csrf_token_is_valid(settings: Settings, token: str, account_id: uuid.UUID) -> bool:
    try:
        payload = jwt.decode(token, settings.SECRET_KEY, algorithms=["HS256"])
    except jwt.PyJWTError:
        return False
    return payload.get("sub") == str(account_id)


def new_opaque_token() -> str:
    """128 hex characters, like Dify's refresh tokens."""
    return secrets.token_hex(64)


def token_digest(token: str) -> str:
    """What is stored in place of a token: tokens are high-entropy, so SHA-256 suffices."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()
