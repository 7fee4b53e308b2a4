"""``GET /v1/``: the Service API's unauthenticated welcome."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from ore import __version__

router = APIRouter()


@router.get("/v1/", include_in_schema=True)
async def welcome() -> dict[str, Any]:
    return {"welcome": "Dify OpenAPI", "api_version": "v1", "server_version": __version__}
