"""Field renderers shared by console responses (Dify's field formats)."""

from __future__ import annotations

import uuid
from datetime import datetime


def timestamp(value: datetime | None) -> int | None:
    """Dify's TimestampField: integer unix seconds, null when unset."""
    return int(value.timestamp()) if value is not None else None


def avatar_url(avatar: str | None) -> str | None:
    """A URL avatar is its own URL. Upload-file avatars get a signed link once the files
    service exists; until then they have none."""
    if avatar and avatar.startswith(("http://", "https://")):
        return avatar
    return None


def optional_id(value: uuid.UUID | None) -> str | None:
    """An id as Dify writes it, or null."""
    return str(value) if value is not None else None
