"""Apps of a workspace: create, list, change, copy, delete; their model config and site.

Every function takes the workspace id or an app already loaded through it, so an app of
another workspace is never reached (it is 404 ``app_not_found``, as for an unknown id).
Behaviour follows Dify's console (console spec section 8).
"""

from __future__ import annotations

import secrets
import string
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from ore.core.errors import InvalidParam, NotFound
from ore.core.recent import RecentCache
from ore.extensions.database import after_commit
from ore.extensions.model_runtime import ModelRuntime
from ore.models import (
    Account,
    App,
    AppMode,
    AppModelConfig,
    AppStatus,
    DefaultModel,
    Site,
)
from ore.services import app_config
from ore.services.accounts import SUPPORTED_LANGUAGES

SITE_CODE_LENGTH = 16
_SITE_CODE_ALPHABET = string.ascii_letters + string.digits
NAME_FILTER_LENGTH = 30
# Site fields that POST /apps/{id}/site may change (only the non-null ones are applied).
SITE_FIELDS = (
    "title",
    "icon_type",
    "icon",
    "icon_background",
    "description",
    "default_language",
    "chat_color_theme",
    "chat_color_theme_inverted",
    "customize_domain",
    "copyright",
    "privacy_policy",
    "custom_disclaimer",
    "customize_token_strategy",
    "prompt_public",
    "show_workflow_steps",
    "use_icon_as_answer_icon",
)


class AppNotFound(NotFound):
    code = "app_not_found"
    default_message = "App not found."


class AppModeNotSupported(NotFound):
    """matches Dify: a route for other modes answers 404 ``app_not_found``."""

    code = "app_not_found"


class SiteNotFound(NotFound):
    default_message = "Site not found."


@dataclass(frozen=True, slots=True)
class AppView:
    """An app with what its responses show: current model config, site and author."""

    app: App
    config: AppModelConfig | None
    site: Site | None
    author_name: str | None


@dataclass(frozen=True, slots=True)
class AppIcon:
    icon_type: str | None = None
    icon: str | None = None
    icon_background: str | None = None


async def find_app(session: AsyncSession, tenant_id: uuid.UUID, app_id: uuid.UUID) -> App | None:
    """The workspace's app with that id, if it exists and is in normal status."""
    result: App | None = await session.scalar(
        select(App).where(
            App.id == app_id, App.tenant_id == tenant_id, App.status == AppStatus.NORMAL
        )
    )
    return result


async def get_app(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    app_id: uuid.UUID,
    modes: frozenset[AppMode] | None = None,
) -> App:
    """Like :func:`find_app`, but 404 ``app_not_found``; ``modes`` limits the app's mode."""
    app = await find_app(session, tenant_id, app_id)
    if app is None:
        raise AppNotFound()
    if modes is not None and app.mode not in modes:
        names = sorted(str(mode) for mode in modes)
        raise AppModeNotSupported(f"App mode is not in the supported list: {names}")
    return app


async def list_apps(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    *,
    page: int,
    limit: int,
    mode: str | None = None,
    name: str | None = None,
    tag_ids: Sequence[uuid.UUID] = (),
    created_by: uuid.UUID | None = None,
) -> tuple[list[AppView], int]:
    """One page of the workspace's apps, newest first, and how many match in all.

    ``name`` matches a case-insensitive substring of its first 30 characters (as Dify).
    Apps have no tags yet, so any ``tag_ids`` are unknown tags: an empty page, as Dify
    answers for those.
    """
    if tag_ids:
        return [], 0
    query = select(App).where(App.tenant_id == tenant_id, App.status == AppStatus.NORMAL)
    if created_by is not None:
        query = query.where(App.created_by == created_by)
    if mode is not None:
        query = query.where(App.mode == mode)
    if name:
        needle = name[:NAME_FILTER_LENGTH].lower()
        query = query.where(func.lower(App.name).contains(needle, autoescape=True))
    total = await session.scalar(select(func.count()).select_from(query.subquery())) or 0
    apps = (
        await session.scalars(
            query.order_by(App.created_at.desc(), App.id.desc())
            .offset((page - 1) * limit)
            .limit(limit)
        )
    ).all()
    return await _views(session, apps, with_site=False), total


async def view(session: AsyncSession, app: App) -> AppView:
    """The app with its current model config, site and author name."""
    return (await _views(session, [app], with_site=True))[0]


async def _views(session: AsyncSession, apps: Sequence[App], *, with_site: bool) -> list[AppView]:
    config_ids = [app.app_model_config_id for app in apps if app.app_model_config_id]
    configs = {
        config.id: config
        for config in await session.scalars(
            select(AppModelConfig).where(AppModelConfig.id.in_(config_ids))
        )
    }
    author_ids = {app.created_by for app in apps if app.created_by}
    authors = {
        account_id: name
        for account_id, name in await session.execute(
            select(Account.id, Account.name).where(Account.id.in_(author_ids))
        )
    }
    sites: dict[uuid.UUID, Site] = {}
    if with_site:
        app_ids = [app.id for app in apps]
        sites = {
            s.app_id: s for s in await session.scalars(select(Site).where(Site.app_id.in_(app_ids)))
        }
    return [
        AppView(
            app=app,
            config=configs.get(app.app_model_config_id) if app.app_model_config_id else None,
            site=sites.get(app.id),
            author_name=authors.get(app.created_by) if app.created_by else None,
        )
        for app in apps
    ]


async def create_app(
    session: AsyncSession,
    runtime: ModelRuntime,
    *,
    tenant_id: uuid.UUID,
    account: Account,
    name: str,
    mode: AppMode,
    description: str = "",
    icon: AppIcon | None = None,
) -> App:
    """A new app with its site and, for basic modes, a default model config: the
    workspace's default LLM, else openai/gpt-4o (matches Dify)."""
    icon = icon or AppIcon()
    app = App(
        tenant_id=tenant_id,
        name=name,
        mode=mode,
        description=description,
        icon_type=icon.icon_type,
        icon=icon.icon,
        icon_background=icon.icon_background,
        enable_site=True,
        enable_api=True,
        created_by=account.id,
        updated_by=account.id,
    )
    session.add(app)
    await session.flush()
    if mode in app_config.BASIC_MODES:
        provider, model, model_mode = await _default_llm(session, runtime, tenant_id)
        config = app_config.default_config(mode, provider, model, model_mode)
        await save_model_config(session, app, config, account.id)
    await _create_site(session, app, account)
    return app


async def _default_llm(
    session: AsyncSession, runtime: ModelRuntime, tenant_id: uuid.UUID
) -> tuple[str, str, str]:
    default = await session.scalar(
        select(DefaultModel).where(
            DefaultModel.tenant_id == tenant_id, DefaultModel.model_type == "llm"
        )
    )
    if default is None:
        provider, model = app_config.FALLBACK_PROVIDER, app_config.FALLBACK_MODEL
    else:
        provider, model = default.provider, default.model
    mode = "chat"
    if provider in runtime.registry:
        descriptor = runtime.adapter(provider).descriptor.find_model(model, "llm")
        mode = descriptor.mode if descriptor is not None else mode
    return provider, model, mode


async def _create_site(session: AsyncSession, app: App, account: Account) -> Site:
    site = Site(
        tenant_id=app.tenant_id,
        app_id=app.id,
        code=await _new_site_code(session),
        title=app.name,
        icon_type=app.icon_type,
        icon=app.icon,
        icon_background=app.icon_background,
        description=app.description,
        default_language=account.interface_language,
        created_by=account.id,
        updated_by=account.id,
    )
    session.add(site)
    await session.flush()
    return site


async def _new_site_code(session: AsyncSession) -> str:
    """16 random letters and digits that no site uses yet."""
    while True:
        code = "".join(secrets.choice(_SITE_CODE_ALPHABET) for _ in range(SITE_CODE_LENGTH))
        if await session.scalar(select(Site.id).where(Site.code == code)) is None:
            return code


async def update_app(
    session: AsyncSession,
    app: App,
    account_id: uuid.UUID,
    *,
    name: str,
    description: str,
    icon: AppIcon,
    use_icon_as_answer_icon: bool,
    max_active_requests: int,
) -> App:
    """PUT semantics (matches Dify): every field is set, missing ones to their empty value."""
    app.name = name
    app.description = description
    app.icon_type = icon.icon_type
    app.icon = icon.icon
    app.icon_background = icon.icon_background
    app.use_icon_as_answer_icon = use_icon_as_answer_icon
    app.max_active_requests = max_active_requests
    return await _touch(session, app, account_id)


async def rename_app(session: AsyncSession, app: App, account_id: uuid.UUID, name: str) -> App:
    app.name = name
    return await _touch(session, app, account_id)


async def set_icon(
    session: AsyncSession,
    app: App,
    account_id: uuid.UUID,
    *,
    icon: str | None,
    icon_background: str | None,
) -> App:
    app.icon = icon
    app.icon_background = icon_background
    return await _touch(session, app, account_id)


async def set_site_enabled(
    session: AsyncSession, app: App, account_id: uuid.UUID, enabled: bool
) -> App:
    app.enable_site = enabled
    return await _touch(session, app, account_id)


async def set_api_enabled(
    session: AsyncSession, app: App, account_id: uuid.UUID, enabled: bool
) -> App:
    app.enable_api = enabled
    return await _touch(session, app, account_id)


async def _touch(session: AsyncSession, app: App, account_id: uuid.UUID) -> App:
    app.updated_by = account_id
    await session.flush()
    return app


async def delete_app(session: AsyncSession, app: App) -> None:
    """Delete the app; the database cascades to its configs, site, keys, conversations,
    messages and end users."""
    await session.delete(app)
    await session.flush()


async def copy_app(
    session: AsyncSession,
    app: App,
    account: Account,
    *,
    name: str | None,
    description: str | None,
    icon: AppIcon,
) -> App:
    """A new app with the same settings and current model config, and its own site;
    given fields replace the original's."""
    duplicate = App(
        tenant_id=app.tenant_id,
        name=name or app.name,
        mode=app.mode,
        description=app.description if description is None else description,
        icon_type=icon.icon_type or app.icon_type,
        icon=icon.icon or app.icon,
        icon_background=icon.icon_background or app.icon_background,
        enable_site=app.enable_site,
        enable_api=app.enable_api,
        max_active_requests=app.max_active_requests,
        use_icon_as_answer_icon=app.use_icon_as_answer_icon,
        created_by=account.id,
        updated_by=account.id,
    )
    session.add(duplicate)
    await session.flush()
    current = await current_config(session, app)
    if current is not None:
        await save_model_config(session, duplicate, config_dict(current), account.id)
    await _create_site(session, duplicate, account)
    return duplicate


async def current_config(session: AsyncSession, app: App) -> AppModelConfig | None:
    if app.app_model_config_id is None:
        return None
    config: AppModelConfig | None = await session.get(AppModelConfig, app.app_model_config_id)
    return config


# Config versions read by recent generations, reused for a second, so that a busy app's new
# conversations read nothing before their start unit. A version is written once, except
# its annotation_reply switch: forget_config() drops it from here when that commits.
RECENT_CONFIGS: RecentCache[uuid.UUID, AppModelConfig] = RecentCache(ttl=1.0)


def forget_config(session: AsyncSession, config_id: uuid.UUID) -> None:
    """Once ``session`` commits a change to a config version in place, stop reusing it."""

    async def forget() -> None:
        RECENT_CONFIGS.forget(config_id)

    after_commit(session, forget)


def config_dict(config: AppModelConfig) -> dict[str, Any]:
    """The stored config as Dify's flat mapping, every key present."""
    return app_config.with_defaults({key: getattr(config, key) for key in app_config.CONFIG_KEYS})


async def save_model_config(
    session: AsyncSession, app: App, config: Mapping[str, Any], account_id: uuid.UUID
) -> AppModelConfig:
    """Store ``config`` (already validated) as a new version and make it the app's current
    one; earlier versions stay for the conversations that used them."""
    model = config.get("model") or {}
    row = AppModelConfig(
        tenant_id=app.tenant_id,
        app_id=app.id,
        provider=model.get("provider"),
        model_id=model.get("name"),
        created_by=account_id,
        updated_by=account_id,
        **{key: config.get(key) for key in app_config.CONFIG_KEYS},
    )
    session.add(row)
    await session.flush()
    app.app_model_config_id = row.id
    await _touch(session, app, account_id)
    return row


async def get_site(session: AsyncSession, app: App) -> Site:
    site: Site | None = await session.scalar(
        select(Site).where(Site.app_id == app.id, Site.tenant_id == app.tenant_id)
    )
    if site is None:
        raise SiteNotFound()
    return site


async def update_site(
    session: AsyncSession, app: App, account_id: uuid.UUID, changes: Mapping[str, Any]
) -> Site:
    """Apply the non-null ``changes`` among SITE_FIELDS (matches Dify); the language must
    be one the console supports."""
    language = changes.get("default_language")
    if language is not None and language not in SUPPORTED_LANGUAGES:
        raise InvalidParam(f"default_language must be one of {list(SUPPORTED_LANGUAGES)}")
    site = await get_site(session, app)
    for field in SITE_FIELDS:
        value = changes.get(field)
        if value is not None:
            setattr(site, field, value)
    site.updated_by = account_id
    await session.flush()
    return site


async def reset_site_code(session: AsyncSession, app: App, account_id: uuid.UUID) -> Site:
    """A new access code: links with the old one stop working."""
    site = await get_site(session, app)
    site.code = await _new_site_code(session)
    site.updated_by = account_id
    await session.flush()
    return site
