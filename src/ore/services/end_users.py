"""End users: the callers of an app, named by the ``user`` string of the Service API.

Per app, one ``user`` string is one :class:`~ore.models.app.EndUser` (type
``service-api``); a missing or empty ``user`` on a route where it is optional is the shared
anonymous ``DEFAULT-USER`` (spec dify-service-api.md §1). Get-or-create is safe under
concurrency: the row is unique per (app, type, session_id) and a lost insert race reads
the winner's row.
"""

from __future__ import annotations

import uuid
from typing import Literal, overload

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from ore.core.errors import InvalidParam
from ore.models.app import App, EndUser

SERVICE_API = "service-api"
DEFAULT_USER = "DEFAULT-USER"


class UserRequired(InvalidParam):
    default_message = "Arg user must be provided."


@overload
def user_string(user: object, *, required: Literal[True]) -> str: ...
@overload
def user_string(user: object, *, required: bool) -> str | None: ...
def user_string(user: object, *, required: bool) -> str | None:
    """The ``user`` value of a request, checked: a string, present when ``required``."""
    if user is None or user == "":
        if required:
            raise UserRequired()
        return None
    if not isinstance(user, str):
        raise InvalidParam("user must be a string.")
    if len(user) > 255:
        raise InvalidParam("user must be at most 255 characters.")
    return user


async def _find(session: AsyncSession, app_id: uuid.UUID, session_id: str) -> EndUser | None:
    query = select(EndUser).where(
        EndUser.app_id == app_id, EndUser.type == SERVICE_API, EndUser.session_id == session_id
    )
    return (await session.execute(query)).scalar_one_or_none()


async def end_user_for(session: AsyncSession, app: App, user: str | None) -> EndUser:
    """The end user of ``app`` named ``user`` (the anonymous default when None), created
    on first use."""
    session_id = user or DEFAULT_USER
    found = await _find(session, app.id, session_id)
    if found is not None:
        return found
    row = EndUser(
        tenant_id=app.tenant_id,
        app_id=app.id,
        type=SERVICE_API,
        session_id=session_id,
        external_user_id=user,
        is_anonymous=user is None,
    )
    try:
        async with session.begin_nested():
            session.add(row)
    except IntegrityError:
        # Another request created it between our read and our insert.
        winner = await _find(session, app.id, session_id)
        if winner is None:
            raise
        return winner
    return row


async def find_end_user(session: AsyncSession, app: App, user: str | None) -> EndUser | None:
    """The existing end user named ``user`` (no row is created for a read)."""
    return await _find(session, app.id, user or DEFAULT_USER)
