"""App DSL import and export (console spec sections 8 and 9).

``POST /apps/imports`` answers with the import object and an HTTP status chosen by its
``status``: 200 completed (with or without warnings), 202 pending, 400 failed.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from ore.controllers.console.apps import APP_PATH, IconText, IconType, Name
from ore.controllers.deps import ContextDep, EditorWorkspace, SessionDep, WorkspaceScope
from ore.extensions.context import OreContext
from ore.services import apps, dsl

router = APIRouter(tags=["apps"])

_HTTP_STATUS = {
    dsl.ImportStatus.COMPLETED: 200,
    dsl.ImportStatus.COMPLETED_WITH_WARNINGS: 200,
    dsl.ImportStatus.PENDING: 202,
    dsl.ImportStatus.FAILED: 400,
}


class ImportBody(BaseModel):
    mode: Annotated[str, Field(max_length=64)]
    yaml_content: str | None = None
    yaml_url: Annotated[str, Field(max_length=4096)] | None = None
    name: Name | None = None
    description: Annotated[str, Field(max_length=400)] | None = None
    icon_type: IconType | None = None
    icon: IconText | None = None
    icon_background: IconText | None = None
    app_id: uuid.UUID | None = None


def _importer(session: SessionDep, scope: WorkspaceScope, context: OreContext) -> dsl.Importer:
    return dsl.Importer(
        session=session,
        runtime=context.models,
        kv=context.kv,
        http=context.http.user,
        tenant_id=scope.tenant.id,
        account=scope.account,
    )


def _answer(result: dsl.ImportResult) -> JSONResponse:
    return JSONResponse(result.as_dict(), status_code=_HTTP_STATUS[result.status])


@router.post("/apps/imports")
async def import_app(
    body: ImportBody, session: SessionDep, scope: EditorWorkspace, context: ContextDep
) -> JSONResponse:
    request = dsl.ImportRequest(
        mode=body.mode,
        yaml_content=body.yaml_content,
        yaml_url=body.yaml_url,
        overrides=dsl.Overrides(
            name=body.name,
            description=body.description,
            icon_type=body.icon_type,
            icon=body.icon,
            icon_background=body.icon_background,
        ),
        app_id=body.app_id,
    )
    return _answer(await dsl.import_app(_importer(session, scope, context), request))


@router.post("/apps/imports/{import_id}/confirm")
async def confirm_import(
    import_id: Annotated[str, Path(max_length=64)],
    session: SessionDep,
    scope: EditorWorkspace,
    context: ContextDep,
) -> JSONResponse:
    return _answer(await dsl.confirm_import(_importer(session, scope, context), import_id))


@router.get("/apps/imports/{app_id:uuid}/check-dependencies")
async def check_dependencies(
    app_id: uuid.UUID, session: SessionDep, scope: EditorWorkspace
) -> dict[str, Any]:
    """ore has no plugins, so an imported app never lacks one."""
    await apps.get_app(session, scope.tenant.id, app_id)
    return {"leaked_dependencies": []}


@router.get(APP_PATH + "/export")
async def export_app(
    app_id: uuid.UUID,
    session: SessionDep,
    scope: EditorWorkspace,
    include_secret: bool = False,
    workflow_id: Annotated[str | None, Query(max_length=64)] = None,
) -> dict[str, Any]:
    """``workflow_id`` picks a published version of a graph app; basic apps ignore it."""
    app = await apps.get_app(session, scope.tenant.id, app_id)
    return {"data": await dsl.export_app(session, app, include_secret=include_secret)}
