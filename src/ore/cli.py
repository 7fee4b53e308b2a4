"""The ``ore`` command line."""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from ore.config import ConfigError, Settings, load_settings

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

app = typer.Typer(
    help="ore: self-hosted LLM application platform with Dify-compatible APIs.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Database schema (Alembic migrations).", no_args_is_help=True)
config_app = typer.Typer(help="Inspect the effective configuration.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(config_app, name="config")

console = Console()
err_console = Console(stderr=True)


def _settings(**overrides: object) -> Settings:
    try:
        return load_settings(**overrides)
    except ConfigError as error:
        err_console.print(f"[red]{error}[/red]")
        raise typer.Exit(2) from error


T = TypeVar("T")


def _in_unit_of_work(
    settings: Settings, work: Callable[[AsyncSession], Awaitable[T]], *, migrate: bool = False
) -> T:
    """Run ``work`` in one unit of work on a fresh engine; an OreError exits 1 with its code."""
    from ore.core.errors import OreError
    from ore.extensions import migrations
    from ore.extensions.database import Database

    async def _run() -> T:
        if migrate and settings.MIGRATION_ENABLED:
            await migrations.upgrade(settings)
        db = Database(settings)
        try:
            async with db.unit_of_work() as session:
                return await work(session)
        finally:
            await db.dispose()

    try:
        return asyncio.run(_run())
    except OreError as error:
        err_console.print(f"[red]{error.code}: {error.message}[/red]")
        raise typer.Exit(1) from error


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address (default HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default PORT, 5001).")] = None,
    workers: Annotated[
        int | None, typer.Option(help="uvicorn worker processes (default SERVER_WORKERS).")
    ] = None,
    reload: Annotated[bool, typer.Option(help="Restart on code changes (development).")] = False,
) -> None:
    """Start the API server (and, in embedded mode, the in-process task runner)."""
    import uvicorn

    settings = _settings()
    workers = workers or settings.SERVER_WORKERS
    if workers > 1 and not settings.is_distributed:
        err_console.print(
            "[red]--workers > 1 needs distributed mode:[/red] set DB_TYPE=postgresql, "
            "REDIS_HOST and CELERY_BROKER_URL. In-process locks, stop signals and the "
            "in-process task runner do not cross processes."
        )
        raise typer.Exit(2)
    uvicorn.run(
        "ore.app_factory:create_app",
        factory=True,
        host=host or settings.HOST,
        port=port or settings.PORT,
        workers=workers if not reload else None,
        reload=reload,
        log_config=None,
        access_log=False,
        proxy_headers=True,
        server_header=False,
    )


@db_app.command("upgrade")
def db_upgrade(
    revision: Annotated[str, typer.Argument(help="Target revision.")] = "head",
) -> None:
    """Apply migrations up to REVISION (idempotent)."""
    from ore.extensions import migrations

    settings = _settings()
    asyncio.run(migrations.upgrade(settings, revision))
    console.print(f"database at revision {asyncio.run(migrations.current(settings))}")


@db_app.command("current")
def db_current() -> None:
    """Print the revision the database is at, and the newest one ore knows."""
    from ore.extensions import migrations

    settings = _settings()
    current = asyncio.run(migrations.current(settings))
    head = migrations.head_revision(settings)
    console.print(f"current: {current or '(empty database)'}")
    console.print(f"head:    {head}")
    if current != head:
        console.print("run `ore db upgrade` to bring the database up to date")


@config_app.command("show")
def config_show(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Print every setting with its effective value (secrets masked) and where it came from."""
    from ore.config.settings import is_secret, mask, setting_sources

    settings = _settings()
    sources = setting_sources(settings)
    rows = []
    for name, field in Settings.model_fields.items():
        value = getattr(settings, name)
        shown = mask(value) if is_secret(field) else value
        rows.append({"name": name, "value": shown, "source": sources[name]})
    if as_json:
        sys.stdout.write(json.dumps(rows, indent=2, default=str) + "\n")
        return
    table = Table("setting", "value", "source")
    for row in rows:
        table.add_row(row["name"], str(row["value"]), row["source"])
    console.print(table)


@config_app.command("docs")
def config_docs() -> None:
    """Print docs/configuration.md: every setting with its default and meaning."""
    from ore.config.docs import render_configuration_markdown

    sys.stdout.write(render_configuration_markdown())


@app.command()
def init(
    email: Annotated[str, typer.Option(help="Email of the first administrator.", prompt=True)],
    name: Annotated[str, typer.Option(help="Display name.", prompt=True)],
    password: Annotated[
        str,
        typer.Option(
            help="Password (8+ characters, letters and digits).",
            prompt=True,
            hide_input=True,
            confirmation_prompt=True,
        ),
    ],
    workspace_name: Annotated[
        str | None, typer.Option(help='Workspace name (default: "<name>\'s Workspace").')
    ] = None,
) -> None:
    """Create the first admin account and workspace (what POST /console/api/setup does)."""
    from ore.events import register_handlers
    from ore.services import setup

    settings = _settings()
    register_handlers(settings)  # the new workspace gets what POST /setup would give it

    async def _create(session: AsyncSession) -> str:
        account = await setup.create_first_admin(
            session, email=email, name=name, password=password, workspace_name=workspace_name
        )
        return account.email

    created = _in_unit_of_work(settings, _create, migrate=True)
    console.print(f"created administrator {created}; sign in at /console/api/login")


tasks_app = typer.Typer(help="Background tasks.", no_args_is_help=True)
app.add_typer(tasks_app, name="tasks")


@app.command()
def worker(
    concurrency: Annotated[
        int | None,
        typer.Option(help="Worker processes (default CELERY_WORKER_CONCURRENCY).", min=1),
    ] = None,
    loglevel: Annotated[str, typer.Option(help="Celery log level.")] = "INFO",
    queues: Annotated[
        str | None,
        typer.Option(help="Comma-separated task domains to consume (default: all ore tasks)."),
    ] = None,
    pool: Annotated[
        str, typer.Option(help="prefork (processes) or solo (one task at a time, in-process).")
    ] = "prefork",
) -> None:
    """Run a Celery worker that executes ore's background tasks (distributed mode)."""
    import ore.tasks  # noqa: F401  (registers every task before the worker is built)
    from ore.extensions.logging import configure_logging
    from ore.extensions.tasks.celery_backend import run_worker

    settings = _settings()
    if not settings.celery_enabled:
        err_console.print(
            "[red]CELERY_BROKER_URL is empty:[/red] set it to a redis:// or amqp:// broker. "
            "Without it `ore serve` runs tasks itself and no worker is needed."
        )
        raise typer.Exit(2)
    if pool not in ("prefork", "solo"):
        err_console.print("[red]--pool must be prefork or solo[/red] (tasks need their own loop)")
        raise typer.Exit(2)
    configure_logging(settings)
    domains = [name.strip() for name in (queues or "").split(",") if name.strip()]
    run_worker(
        settings,
        concurrency=concurrency or settings.CELERY_WORKER_CONCURRENCY,
        loglevel=loglevel.upper(),
        queues=domains,
        pool=pool,
    )


@tasks_app.command("list")
def tasks_list(
    status: Annotated[
        str | None, typer.Option(help="Only runs in this status (queued, running, ...).")
    ] = None,
    limit: Annotated[int, typer.Option(help="Newest runs shown.", min=1)] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show the newest task runs and their state."""
    from ore.extensions.database import Database
    from ore.extensions.tasks.runs import list_runs

    settings = _settings()

    async def _load() -> list[dict[str, object]]:
        db = Database(settings)
        try:
            return await list_runs(db, status=status, limit=limit)
        finally:
            await db.dispose()

    runs = asyncio.run(_load())
    if as_json:
        sys.stdout.write(json.dumps(runs, indent=2, default=str) + "\n")
        return
    columns = ("id", "name", "status", "attempts", "created_at", "finished_at", "error")
    table = Table(*columns)
    for run in runs:
        table.add_row(*("" if run[column] is None else str(run[column]) for column in columns))
    console.print(table)


secrets_app = typer.Typer(help="Secrets at rest (provider credentials).", no_args_is_help=True)
app.add_typer(secrets_app, name="secrets")


@secrets_app.command("rewrap")
def secrets_rewrap(
    old_secret_key: Annotated[
        str,
        typer.Option(
            help="The SECRET_KEY the workspace keys are wrapped with now.",
            envvar="OLD_SECRET_KEY",
            prompt=True,
            hide_input=True,
        ),
    ],
) -> None:
    """Re-wrap every workspace key from the old SECRET_KEY to the configured one."""
    from ore.services import secrets

    settings = _settings()

    async def _rewrap(session: AsyncSession) -> int:
        return await secrets.rewrap_tenant_keys(session, old_secret_key, settings.SECRET_KEY)

    count = _in_unit_of_work(settings, _rewrap)
    console.print(f"re-wrapped {count} workspace keys with the configured SECRET_KEY")


models_app = typer.Typer(help="Models (the offline local models).", no_args_is_help=True)
app.add_typer(models_app, name="models")


@models_app.command("serve-local")
def models_serve_local(
    host: Annotated[str, typer.Option(help="Bind address (keep it on loopback).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8001,
) -> None:
    """Serve the local chat and embedding models as an OpenAI-compatible API (/v1/...)."""
    import uvicorn

    from ore.controllers.local_openai import create_local_openai_app

    uvicorn.run(create_local_openai_app(), host=host, port=port, log_config=None)


apps_app = typer.Typer(help="Apps as Dify DSL YAML files.", no_args_is_help=True)
app.add_typer(apps_app, name="apps")


def _uuid(value: str, name: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError as error:
        raise typer.BadParameter(f"{value!r} is not an id", param_hint=name) from error


@apps_app.command("export")
def apps_export(
    app_id: Annotated[str, typer.Argument(help="The app's id.")],
    out: Annotated[Path | None, typer.Option(help="Write the YAML here, not to stdout.")] = None,
) -> None:
    """Export an app as Dify DSL YAML (what GET /console/api/apps/{id}/export answers)."""
    from ore.services import dsl

    settings = _settings()

    async def _export(session: AsyncSession) -> str:
        return await dsl.export_app(session, await dsl.app_by_id(session, _uuid(app_id, "APP_ID")))

    text = _in_unit_of_work(settings, _export)
    if out is None:
        sys.stdout.write(text)
        return
    out.write_text(text, encoding="utf-8")
    console.print(f"wrote {out}")


@apps_app.command("import")
def apps_import(
    file: Annotated[Path, typer.Argument(help="A DSL YAML file.", exists=True, dir_okay=False)],
    workspace: Annotated[
        str | None, typer.Option(help="Workspace id (default: the only workspace).")
    ] = None,
    name: Annotated[str | None, typer.Option(help="Name of the new app.")] = None,
    force: Annotated[
        bool, typer.Option(help="Import a newer or older-major DSL version without asking.")
    ] = False,
) -> None:
    """Import a Dify DSL YAML file as a new app of a workspace (what POST
    /console/api/apps/imports does, acting as the workspace owner); prints the result."""
    from ore.extensions.http import create_http_clients
    from ore.extensions.kv import create_kv
    from ore.extensions.model_runtime import create_model_runtime
    from ore.services import dsl

    settings = _settings()
    tenant_id = _uuid(workspace, "--workspace") if workspace else None
    try:
        content = file.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise typer.BadParameter("the file is not UTF-8 text", param_hint="FILE") from error

    async def _import(session: AsyncSession) -> dsl.ImportResult:
        kv = create_kv(settings)
        http = create_http_clients(settings)
        try:
            tenant, owner = await dsl.workspace_owner(session, tenant_id)
            importer = dsl.Importer(
                session, create_model_runtime(settings, kv, http), kv, http.user, tenant, owner
            )
            request = dsl.ImportRequest(
                mode="yaml-content", yaml_content=content, overrides=dsl.Overrides(name=name)
            )
            result = await dsl.import_app(importer, request)
            if result.status == dsl.ImportStatus.PENDING and force:
                result = await dsl.confirm_import(importer, result.id)
            return result
        finally:
            await http.aclose()
            await kv.close()

    result = _in_unit_of_work(settings, _import)
    sys.stdout.write(json.dumps(result.as_dict(), indent=2) + "\n")
    if result.status == dsl.ImportStatus.PENDING:
        err_console.print("[yellow]the file's DSL version needs confirmation: rerun with --force")
    if result.status in (dsl.ImportStatus.PENDING, dsl.ImportStatus.FAILED):
        raise typer.Exit(1)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
