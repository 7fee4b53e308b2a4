"""The Service API (``/v1``): Dify's app endpoints for app keys (spec dify-service-api.md)."""

from fastapi import APIRouter

from ore.controllers.service_api import (
    annotations,
    app_info,
    conversations,
    files,
    generation,
    index,
    messages,
)

router = APIRouter()
router.include_router(index.router)
router.include_router(annotations.router)
router.include_router(generation.router)
router.include_router(app_info.router)
router.include_router(conversations.router)
router.include_router(messages.router)
router.include_router(files.router)
