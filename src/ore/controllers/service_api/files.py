"""``/v1/files/upload`` and ``/v1/files/{id}/preview``.

The upload is a multipart form read here rather than declared as FastAPI parameters, so
each of Dify's errors comes out as Dify has it: no part ``file`` (400
``no_file_uploaded``), more than one file part (400 ``too_many_files``), no file name (400
``filename_not_exists_error``), no media type or a refused extension (415), too large for
its kind (413).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request, Response
from starlette.datastructures import UploadFile as FormFile

from ore.config import Settings
from ore.controllers.console.fields import timestamp
from ore.controllers.deps import ContextDep, SessionDep
from ore.controllers.service_api.deps import ServiceApp
from ore.models import UploadFile
from ore.services import files
from ore.services.end_users import end_user_for, user_string

router = APIRouter(tags=["service-api"])


def service_api_base(request: Request, settings: Settings) -> str:
    """The public origin of the Service API: SERVICE_API_URL, else this request's."""
    return (settings.SERVICE_API_URL or str(request.base_url)).rstrip("/")


def preview_url(request: Request, settings: Settings, file_id: object) -> str:
    return f"{service_api_base(request, settings)}/v1/files/{file_id}/preview"


def file_body(row: UploadFile, url: str) -> dict[str, Any]:
    return {
        "id": str(row.id),
        "name": row.name,
        "size": row.size,
        "extension": row.extension,
        "mime_type": row.mime_type,
        "created_by": str(row.created_by),
        "created_at": timestamp(row.created_at),
        "preview_url": None,
        "source_url": url,
        "original_url": None,
        "user_id": None,
        "tenant_id": str(row.tenant_id),
        "conversation_id": None,
        "file_key": None,
    }


@router.post("/v1/files/upload", status_code=201, summary="Upload one file for later messages")
async def upload(
    request: Request, app: ServiceApp, session: SessionDep, context: ContextDep
) -> dict[str, Any]:
    form = await request.form()
    uploads = [value for value in form.values() if isinstance(value, FormFile)]
    part = form.get("file")
    if not isinstance(part, FormFile):
        raise files.NoFileUploaded()
    if len(uploads) > 1:
        raise files.TooManyFiles()
    if not part.filename:
        raise files.FilenameNotExists()
    settings = context.settings
    limit = files.check_upload(settings, part.filename, part.content_type)
    data = await part.read(limit + 1)
    if len(data) > limit:
        raise files.FileTooLarge(
            f"File size exceeded. Files of this kind may be at most {limit // files.MB} MB."
        )
    user = user_string(form.get("user"), required=False)
    end_user = await end_user_for(session, app, user)
    row = await files.store_upload(
        session,
        context.storage,
        settings.STORAGE_TYPE,
        app,
        end_user,
        filename=part.filename,
        mime_type=part.content_type or "",
        data=data,
    )
    return file_body(row, preview_url(request, settings, row.id))


@router.get("/v1/files/{file_id}/preview", summary="The bytes of a file used in this app")
async def preview(
    file_id: str,
    app: ServiceApp,
    session: SessionDep,
    context: ContextDep,
    as_attachment: bool = False,
    user: str | None = None,
) -> Response:
    """Any caller of the app may read a file its messages use: Dify checks no ``user`` here,
    and the official client sends none."""
    user_string(user, required=False)
    row = await files.previewable_file(session, app, file_id)
    data = await context.storage.load(row.key)
    if as_attachment:
        disposition = f"attachment; filename*=UTF-8''{quote(row.name, safe='')}"
        return Response(
            data,
            media_type="application/octet-stream",
            headers={"Content-Disposition": disposition},
        )
    return Response(data, media_type=row.mime_type or "application/octet-stream")
