"""First-run setup (console spec section 3): ``/setup`` and ``/init``, no login needed."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from ore.controllers.deps import SessionDep
from ore.services import setup

router = APIRouter(tags=["console: setup"])


class SetupCreate(BaseModel):
    email: str = Field(max_length=255)
    name: str = Field(max_length=30)
    password: str = Field(max_length=256, description="Plaintext, as the Dify install page sends.")
    language: str | None = None


@router.get("/setup", summary="Whether the first administrator exists")
async def get_setup_status(session: SessionDep) -> dict[str, Any]:
    setup_at = await setup.setup_status(session)
    if setup_at is None:
        return {"step": "not_started"}
    return {"step": "finished", "setup_at": setup_at.isoformat()}


@router.post("/setup", status_code=201, summary="Create the first administrator and workspace")
async def create_setup(payload: SetupCreate, session: SessionDep) -> dict[str, str]:
    await setup.create_first_admin(
        session,
        email=payload.email,
        name=payload.name,
        password=payload.password,
        language=payload.language,
    )
    return {"result": "success"}


@router.get("/init", summary="Init-password validation status")
async def get_init_status() -> dict[str, str]:
    # INIT_PASSWORD is not supported, so there is never an init step to pass (matches Dify
    # when INIT_PASSWORD is unset).
    return {"status": "finished"}
