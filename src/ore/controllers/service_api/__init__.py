"""The Service API (``/v1``): Dify's app endpoints for app keys (spec dify-service-api.md)."""

from fastapi import APIRouter

from ore.controllers.service_api import annotations, generation, index

router = APIRouter()
router.include_router(index.router)
router.include_router(annotations.router)
router.include_router(generation.router)
