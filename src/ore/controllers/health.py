"""Operations endpoints: liveness with dependency checks, and readiness."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from ore import __version__
from ore.controllers.deps import ContextDep

router = APIRouter(tags=["operations"])

_CHECK_TIMEOUT = 3.0


async def _run_check(check: Callable[[], Awaitable[None]]) -> dict[str, Any]:
    try:
        await asyncio.wait_for(check(), _CHECK_TIMEOUT)
    except Exception as error:  # a failed dependency is reported, never raised
        return {"status": "error", "error": f"{type(error).__name__}: {error}"[:300]}
    return {"status": "ok"}


@router.get("/health", summary="Health of ore and each dependency")
async def health(context: ContextDep) -> JSONResponse:
    checks: dict[str, dict[str, Any]] = {
        "database": await _run_check(context.db.ping),
        "redis": (
            await _run_check(context.kv.ping)
            if context.settings.redis_enabled
            else {"status": "disabled", "backend": context.kv.name}
        ),
        "tasks": {**await _run_check(context.tasks.check), "backend": context.tasks.name},
        "storage": await _run_check(context.storage.check),
    }
    healthy = all(check["status"] in ("ok", "disabled") for check in checks.values())
    body = {
        "status": "ok" if healthy else "error",
        "version": __version__,
        "mode": "distributed" if context.settings.is_distributed else "embedded",
        "checks": checks,
    }
    return JSONResponse(body, status_code=200 if healthy else 503)


@router.get("/ready", summary="Ready to serve traffic")
async def ready(context: ContextDep) -> JSONResponse:
    database = await _run_check(context.db.ping)
    is_ready = database["status"] == "ok"
    return JSONResponse(
        {"status": "ready" if is_ready else "not_ready", "database": database},
        status_code=200 if is_ready else 503,
    )
