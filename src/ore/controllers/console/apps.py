"""Apps: list, create, change, copy, delete; model config and site (console spec section 8).

Responses use Dify's field names: ``AppPartial`` in the list, ``AppDetail`` after a change,
``AppDetailWithSite`` for one app. Timestamps are unix seconds.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, Field

from ore.config import Settings
from ore.controllers.console.fields import optional_id, timestamp
from ore.controllers.deps import (
    AdminWorkspace,
    ContextDep,
    CurrentWorkspace,
    EditorWorkspace,
    SessionDep,
    SettingsDep,
)
from ore.core.errors import InvalidParam
from ore.models import App, AppMode, AppModelConfig, Site
from ore.services import app_config, apps

router = APIRouter(tags=["apps"])

APP_PATH = "/apps/{app_id:uuid}"
ModeName = Literal["completion", "chat", "agent-chat", "advanced-chat", "workflow"]
# Bounds that keep every value inside its column on both databases.
Name = Annotated[str, Field(min_length=1, max_length=255)]
Description = Annotated[str, Field(max_length=400)]
IconText = Annotated[str, Field(max_length=255)]
IconType = Literal["emoji", "image", "link"]
Int32 = Annotated[int, Field(ge=0, le=2**31 - 1)]


class AppCreate(BaseModel):
    name: Name
    mode: ModeName
    description: Description = ""
    icon_type: IconType | None = None
    icon: IconText | None = None
    icon_background: IconText | None = None


class AppUpdate(BaseModel):
    name: Name
    description: Description = ""
    icon_type: IconType | None = None
    icon: IconText | None = None
    icon_background: IconText | None = None
    use_icon_as_answer_icon: bool = False
    max_active_requests: Int32 = 0


class AppCopy(BaseModel):
    name: Name | None = None
    description: Description | None = None
    icon_type: IconType | None = None
    icon: IconText | None = None
    icon_background: IconText | None = None


class AppRename(BaseModel):
    name: Name


class AppIconUpdate(BaseModel):
    icon: IconText | None = None
    icon_background: IconText | None = None


class SiteEnable(BaseModel):
    enable_site: bool


class ApiEnable(BaseModel):
    enable_api: bool


class SiteUpdate(BaseModel):
    title: Name | None = None
    icon_type: IconType | None = None
    icon: IconText | None = None
    icon_background: IconText | None = None
    description: Annotated[str, Field(max_length=2000)] | None = None
    default_language: IconText | None = None
    chat_color_theme: IconText | None = None
    chat_color_theme_inverted: bool | None = None
    customize_domain: IconText | None = None
    copyright: IconText | None = None
    privacy_policy: IconText | None = None
    custom_disclaimer: Annotated[str, Field(max_length=2000)] | None = None
    customize_token_strategy: Literal["must", "allow", "not_allow"] | None = None
    prompt_public: bool | None = None
    show_workflow_steps: bool | None = None
    use_icon_as_answer_icon: bool | None = None


def _audit(row: App | AppModelConfig | Site) -> dict[str, Any]:
    return {
        "created_by": optional_id(row.created_by),
        "created_at": timestamp(row.created_at),
        "updated_by": optional_id(row.updated_by),
        "updated_at": timestamp(row.updated_at),
    }


def model_config_out(config: AppModelConfig | None) -> dict[str, Any] | None:
    if config is None:
        return None
    return {**apps.config_dict(config), **_audit(config)}


def _partial_model_config(config: AppModelConfig | None) -> dict[str, Any] | None:
    if config is None:
        return None
    return {"model": config.model, "pre_prompt": config.pre_prompt, **_audit(config)}


def app_partial(view: apps.AppView) -> dict[str, Any]:
    """matches Dify: fields/app_fields AppPartial (the list item)."""
    app, config = view.app, view.config
    description = app.description or (config.pre_prompt[:200] if config is not None else "")
    return {
        "id": str(app.id),
        "name": app.name,
        "description": description,
        "mode": app.mode,
        "icon_type": app.icon_type,
        "icon": app.icon,
        "icon_background": app.icon_background,
        "icon_url": None,
        "max_active_requests": app.max_active_requests,
        "model_config": _partial_model_config(config),
        "workflow": None,
        "use_icon_as_answer_icon": app.use_icon_as_answer_icon,
        **_audit(app),
        "tags": [],
        "access_mode": None,
        "create_user_name": view.author_name,
        "author_name": view.author_name,
        "has_draft_trigger": False,
    }


def app_detail(view: apps.AppView) -> dict[str, Any]:
    """matches Dify: AppDetail (the answer to create and to the small update routes)."""
    app = view.app
    return {
        "id": str(app.id),
        "name": app.name,
        "description": app.description,
        "mode": app.mode,
        "icon": app.icon,
        "icon_background": app.icon_background,
        "enable_site": app.enable_site,
        "enable_api": app.enable_api,
        "model_config": model_config_out(view.config),
        "workflow": None,
        "tracing": app.tracing,
        "use_icon_as_answer_icon": app.use_icon_as_answer_icon,
        "max_active_requests": app.max_active_requests,
        "access_mode": None,
        "tags": [],
        **_audit(app),
    }


def site_out(site: Site, request: Request) -> dict[str, Any]:
    return {
        "app_id": str(site.app_id),
        "access_token": site.code,
        "code": site.code,
        "title": site.title,
        "icon_type": site.icon_type,
        "icon": site.icon,
        "icon_background": site.icon_background,
        "icon_url": None,
        "description": site.description,
        "default_language": site.default_language,
        "chat_color_theme": site.chat_color_theme,
        "chat_color_theme_inverted": site.chat_color_theme_inverted,
        "customize_domain": site.customize_domain,
        "copyright": site.copyright,
        "privacy_policy": site.privacy_policy,
        "custom_disclaimer": site.custom_disclaimer,
        "customize_token_strategy": site.customize_token_strategy,
        "prompt_public": site.prompt_public,
        "app_base_url": _base_url(request),
        "show_workflow_steps": site.show_workflow_steps,
        "use_icon_as_answer_icon": site.use_icon_as_answer_icon,
        **_audit(site),
    }


def _base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def app_detail_with_site(
    view: apps.AppView, request: Request, settings: Settings
) -> dict[str, Any]:
    """matches Dify: AppDetailWithSite (GET one app, PUT, copy). ``api_base_url`` is
    SERVICE_API_URL, else this server, + ``/v1``."""
    service_api = settings.SERVICE_API_URL.rstrip("/") or _base_url(request)
    return {
        **app_detail(view),
        "icon_type": view.app.icon_type,
        "icon_url": None,
        "site": site_out(view.site, request) if view.site is not None else None,
        "api_base_url": f"{service_api}/v1",
        "deleted_tools": [],
    }


def _icon(body: AppCreate | AppUpdate | AppCopy) -> apps.AppIcon:
    return apps.AppIcon(
        icon_type=body.icon_type, icon=body.icon, icon_background=body.icon_background
    )


def _uuid_list(value: str | None) -> list[uuid.UUID]:
    """Dify's comma-separated id list; 400 ``invalid_param`` for an id that is not a UUID."""
    if not value:
        return []
    try:
        return [uuid.UUID(part.strip()) for part in value.split(",") if part.strip()]
    except ValueError as error:
        raise InvalidParam("tag_ids must be a comma-separated list of UUIDs.") from error


@router.get("/apps")
async def list_apps(
    session: SessionDep,
    scope: CurrentWorkspace,
    page: Annotated[int, Query(ge=1, le=99999)] = 1,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    mode: Literal["all", ModeName] = "all",
    name: Annotated[str | None, Query(max_length=255)] = None,
    tag_ids: Annotated[str | None, Query(max_length=4000)] = None,
    is_created_by_me: bool = False,
) -> dict[str, Any]:
    views, total = await apps.list_apps(
        session,
        scope.tenant.id,
        page=page,
        limit=limit,
        mode=None if mode == "all" else mode,
        name=name,
        tag_ids=_uuid_list(tag_ids),
        created_by=scope.account.id if is_created_by_me else None,
    )
    return {
        "page": page,
        "limit": limit,
        "total": total,
        "has_more": page * limit < total,
        "data": [app_partial(view) for view in views],
    }


@router.post("/apps", status_code=201)
async def create_app(
    body: AppCreate, session: SessionDep, scope: EditorWorkspace, context: ContextDep
) -> dict[str, Any]:
    app = await apps.create_app(
        session,
        context.models,
        tenant_id=scope.tenant.id,
        account=scope.account,
        name=body.name,
        mode=AppMode(body.mode),
        description=body.description,
        icon=_icon(body),
    )
    return app_detail(await apps.view(session, app))


@router.get(APP_PATH)
async def get_app(
    app_id: uuid.UUID,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    scope: CurrentWorkspace,
) -> dict[str, Any]:
    app = await apps.get_app(session, scope.tenant.id, app_id)
    return app_detail_with_site(await apps.view(session, app), request, settings)


@router.put(APP_PATH)
async def update_app(
    app_id: uuid.UUID,
    body: AppUpdate,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    scope: EditorWorkspace,
) -> dict[str, Any]:
    app = await apps.get_app(session, scope.tenant.id, app_id)
    await apps.update_app(
        session,
        app,
        scope.account.id,
        name=body.name,
        description=body.description,
        icon=_icon(body),
        use_icon_as_answer_icon=body.use_icon_as_answer_icon,
        max_active_requests=body.max_active_requests,
    )
    return app_detail_with_site(await apps.view(session, app), request, settings)


@router.delete(APP_PATH, status_code=204)
async def delete_app(app_id: uuid.UUID, session: SessionDep, scope: EditorWorkspace) -> Response:
    app = await apps.get_app(session, scope.tenant.id, app_id)
    await apps.delete_app(session, app)
    return Response(status_code=204)


@router.post(APP_PATH + "/copy", status_code=201)
async def copy_app(
    app_id: uuid.UUID,
    body: AppCopy,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    scope: EditorWorkspace,
) -> dict[str, Any]:
    app = await apps.get_app(session, scope.tenant.id, app_id)
    duplicate = await apps.copy_app(
        session,
        app,
        scope.account,
        name=body.name,
        description=body.description,
        icon=_icon(body),
    )
    return app_detail_with_site(await apps.view(session, duplicate), request, settings)


@router.post(APP_PATH + "/name")
async def rename_app(
    app_id: uuid.UUID, body: AppRename, session: SessionDep, scope: EditorWorkspace
) -> dict[str, Any]:
    app = await apps.get_app(session, scope.tenant.id, app_id)
    await apps.rename_app(session, app, scope.account.id, body.name)
    return app_detail(await apps.view(session, app))


@router.post(APP_PATH + "/icon")
async def set_app_icon(
    app_id: uuid.UUID, body: AppIconUpdate, session: SessionDep, scope: EditorWorkspace
) -> dict[str, Any]:
    app = await apps.get_app(session, scope.tenant.id, app_id)
    await apps.set_icon(
        session, app, scope.account.id, icon=body.icon, icon_background=body.icon_background
    )
    return app_detail(await apps.view(session, app))


@router.post(APP_PATH + "/site-enable")
async def enable_app_site(
    app_id: uuid.UUID, body: SiteEnable, session: SessionDep, scope: EditorWorkspace
) -> dict[str, Any]:
    app = await apps.get_app(session, scope.tenant.id, app_id)
    await apps.set_site_enabled(session, app, scope.account.id, body.enable_site)
    return app_detail(await apps.view(session, app))


@router.post(APP_PATH + "/api-enable")
async def enable_app_api(
    app_id: uuid.UUID, body: ApiEnable, session: SessionDep, scope: AdminWorkspace
) -> dict[str, Any]:
    app = await apps.get_app(session, scope.tenant.id, app_id)
    await apps.set_api_enabled(session, app, scope.account.id, body.enable_api)
    return app_detail(await apps.view(session, app))


@router.post(APP_PATH + "/model-config")
async def save_model_config(
    app_id: uuid.UUID,
    body: dict[str, Any],
    session: SessionDep,
    scope: EditorWorkspace,
    context: ContextDep,
) -> dict[str, Any]:
    app = await apps.get_app(session, scope.tenant.id, app_id, modes=app_config.BASIC_MODES)
    config = await app_config.validate_model_config(session, context.models, scope.tenant.id, body)
    await apps.save_model_config(session, app, config, scope.account.id)
    return {"result": "success"}


@router.post(APP_PATH + "/site")
async def update_app_site(
    app_id: uuid.UUID,
    body: SiteUpdate,
    request: Request,
    session: SessionDep,
    scope: EditorWorkspace,
) -> dict[str, Any]:
    app = await apps.get_app(session, scope.tenant.id, app_id)
    site = await apps.update_site(session, app, scope.account.id, body.model_dump())
    return site_out(site, request)


@router.post(APP_PATH + "/site/access-token-reset")
async def reset_app_site_code(
    app_id: uuid.UUID, request: Request, session: SessionDep, scope: AdminWorkspace
) -> dict[str, Any]:
    app = await apps.get_app(session, scope.tenant.id, app_id)
    site = await apps.reset_site_code(session, app, scope.account.id)
    return site_out(site, request)
