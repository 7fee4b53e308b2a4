"""The console API (``/console/api``): Dify's console paths and shapes."""

from fastapi import APIRouter

from ore.controllers.console import (
    account,
    activate,
    app_imports,
    app_keys,
    app_logs,
    apps,
    auth,
    gateway_keys,
    members,
    model_providers,
    provider_models,
    setup,
    statistics,
    system,
    workspaces,
)

router = APIRouter()
router.include_router(setup.router)
router.include_router(system.router)
router.include_router(auth.router)
router.include_router(account.router)
router.include_router(workspaces.router)
router.include_router(members.router)
router.include_router(activate.router)
router.include_router(gateway_keys.router)
router.include_router(apps.router)
router.include_router(app_imports.router)
router.include_router(app_keys.router)
router.include_router(app_logs.router)
router.include_router(statistics.router)
# Model routes first: the provider routes' {provider:path} would swallow /models/....
router.include_router(provider_models.router)
router.include_router(model_providers.router)
