"""``create_app(settings)``: the one place where an ore API process is assembled.

Extensions start in a fixed order, and stop in the reverse order:

1. config      settings are validated before anything else (``load_settings``)
2. logging     so every later step can log
3. database    engine; Alembic upgrade when MIGRATION_ENABLED
4. redis       the KV store (Redis when REDIS_HOST is set, in-process otherwise)
5. storage     files
6. tasks       in-process runner or Celery producer
7. events      signal handlers
8. routers     every surface
9. middleware  request id, timing, logs, CORS, limits, compression, custom
10. errors     one renderer for every error
"""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

import ore.tasks  # noqa: F401  (registers every task function before a backend starts)
from ore import __version__
from ore.config import Settings, load_settings
from ore.controllers import gateway, health, metrics
from ore.controllers.console import router as console_router
from ore.controllers.errors import install_error_handlers
from ore.controllers.middleware import install_middleware
from ore.controllers.service_api import router as service_api_router
from ore.events import register_handlers
from ore.extensions import migrations
from ore.extensions.context import OreContext
from ore.extensions.database import Database
from ore.extensions.http import create_http_clients
from ore.extensions.kv import create_kv
from ore.extensions.logging import configure_logging
from ore.extensions.model_runtime import create_model_runtime
from ore.extensions.staged import wait_for_staged_runs
from ore.extensions.storage import create_storage
from ore.extensions.tasks import create_task_backend

logger = logging.getLogger("ore")


async def start_context(settings: Settings) -> OreContext:
    """Steps 2 to 7: everything a process needs besides HTTP (workers use this too)."""
    configure_logging(settings)
    if settings.MIGRATION_ENABLED:
        await migrations.upgrade(settings)
    db = Database(settings)
    kv = create_kv(settings)
    storage = create_storage(settings)
    await storage.check()
    http = create_http_clients(settings)
    models = create_model_runtime(settings, kv, http)
    tasks = create_task_backend(settings, db, kv, models)
    register_handlers(settings)
    await tasks.start()
    return OreContext(
        settings=settings, db=db, kv=kv, storage=storage, tasks=tasks, http=http, models=models
    )


async def stop_context(context: OreContext) -> None:
    # Generations still streaming get time to commit their finish units first.
    left = await wait_for_staged_runs(timeout=30)
    if left:
        logger.warning("%d staged runs did not finish before shutdown", left)
    await context.tasks.stop()
    await context.http.aclose()
    await context.kv.close()
    await context.db.dispose()


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or load_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        context = await start_context(settings)
        app.state.ore = context
        # What start-up built (modules, routes, schemas, mappers: some 300,000 objects)
        # lives as long as the process: leave it out of the collector's full passes, which
        # otherwise stall every stream for up to ~300 ms under load.
        gc.collect()
        gc.freeze()
        logger.info(
            "ore %s started (%s mode, database %s, tasks %s)",
            __version__,
            "distributed" if settings.is_distributed else "embedded",
            context.db.dialect,
            context.tasks.name,
        )
        try:
            yield
        finally:
            await stop_context(context)
            logger.info("ore stopped")

    app = FastAPI(
        title="ore",
        version=__version__,
        summary="Self-hosted LLM application platform with Dify-compatible APIs.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    # Routes are matched in this order, one by one: the Service API and the gateway, which
    # carry the traffic, come before the console's routes (the prefixes never overlap).
    app.include_router(health.router)
    app.include_router(metrics.router)
    app.include_router(service_api_router)
    app.include_router(gateway.router)
    app.include_router(console_router, prefix="/console/api")
    install_middleware(app, settings)
    install_error_handlers(app)
    return app
