"""Apps as Dify DSL YAML: export, and the import flow of ``POST /apps/imports``.

The file format is the DSL spec's section 1; the flow, statuses and error strings are the
console spec's section 9. Import answers with an :class:`ImportResult` rather than
raising, because Dify reports every content problem as ``status: failed`` with an
``error`` string (only an unknown import mode is a plain 400 ``invalid_param``).

Basic apps (chat, agent-chat, completion) import and export their ``model_config``.
Graph apps (workflow, advanced-chat) are refused with a clear ``failed`` until ore stores
workflows. The model config of an imported file is checked for shape like
``POST /apps/{id}/model-config``, but its model provider need not be configured in the
workspace: Dify imports it as is, and the app then fails at run time until the provider
is set up (or the model is changed).
"""

from __future__ import annotations

import copy
import enum
import json
import math
import re
import uuid
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import urlsplit

import anyio
import yaml
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ore.core.errors import InvalidParam, NotFound
from ore.core.http import OutboundHttpClient, OutboundHttpError, ResponseTooLarge
from ore.core.kv import KV
from ore.extensions.model_runtime import ModelRuntime
from ore.models import Account, App, AppMode, TenantAccountJoin, TenantRole
from ore.services import app_config, apps

# The DSL version this server writes (Dify 1.13's).
CURRENT_DSL_VERSION = "0.6.0"
# A file without a version is this old (matches Dify).
DEFAULT_DSL_VERSION = "0.1.0"
DSL_MAX_SIZE = 10 * 1024 * 1024
# Seconds a pending import waits for confirmation (matches Dify's 10 minutes).
PENDING_IMPORT_TTL: float = 10 * 60
URL_FETCH_TIMEOUT = 10.0
GRAPH_MODES = frozenset({AppMode.WORKFLOW, AppMode.ADVANCED_CHAT})
ICON_TYPES = ("emoji", "image", "link")
_VERSION = re.compile(r"^v?(\d+)(?:\.(\d+))?(?:\.(\d+))?$")
_NAME_LIMIT = 255
# libyaml's loader and dumper when PyYAML was built with it: several times faster.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
PENDING_KEY_PREFIX = "dsl_import:"

GRAPH_APPS_NOT_SUPPORTED = (
    "Importing workflow and advanced-chat apps is not supported yet: "
    "ore imports them once it runs workflows."
)


class ImportMode(enum.StrEnum):
    YAML_CONTENT = "yaml-content"
    YAML_URL = "yaml-url"


class ImportStatus(enum.StrEnum):
    COMPLETED = "completed"
    COMPLETED_WITH_WARNINGS = "completed-with-warnings"
    PENDING = "pending"
    FAILED = "failed"


class GraphExportNotSupported(InvalidParam):
    default_message = "Exporting workflow and advanced-chat apps is not supported yet."


@dataclass(frozen=True, slots=True)
class ImportResult:
    """Dify's import answer: ``id`` is the import's own id, not the app's."""

    id: str
    status: ImportStatus
    app_id: str | None = None
    app_mode: str | None = None
    current_dsl_version: str = CURRENT_DSL_VERSION
    imported_dsl_version: str = ""
    error: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "status": str(self.status)}


@dataclass(frozen=True, slots=True)
class Overrides:
    """What the import request sets instead of the file's values."""

    name: str | None = None
    description: str | None = None
    icon_type: str | None = None
    icon: str | None = None
    icon_background: str | None = None


@dataclass(frozen=True, slots=True)
class ImportRequest:
    mode: str
    yaml_content: str | None = None
    yaml_url: str | None = None
    overrides: Overrides = Overrides()
    app_id: uuid.UUID | None = None


@dataclass(frozen=True, slots=True)
class Importer:
    """Who imports, and the pieces an import needs."""

    session: AsyncSession
    runtime: ModelRuntime
    kv: KV
    http: OutboundHttpClient
    tenant_id: uuid.UUID
    account: Account


class DslError(Exception):
    """A problem with the file or the request: the import ends as ``failed`` with this text."""


# --- export --------------------------------------------------------------------------------


async def export_app(session: AsyncSession, app: App, *, include_secret: bool = False) -> str:
    """The app as DSL YAML (keys sorted, Unicode kept, as Dify writes it).

    ``include_secret`` matters for graph apps (secret environment variables); basic apps
    carry nothing secret, and agent tools' ``credential_id`` is dropped either way
    (matches Dify). Dataset ids stay as they are: they mean nothing in another workspace,
    where the runtime only finds that workspace's knowledge bases.
    """
    if app.mode in GRAPH_MODES:
        raise GraphExportNotSupported()
    config = await apps.current_config(session, app)
    model_config = apps.config_dict(config) if config is not None else None
    if model_config is not None:
        _drop_tool_credentials(model_config)
    document: dict[str, Any] = {
        "version": CURRENT_DSL_VERSION,
        "kind": "app",
        "app": {
            "name": app.name,
            "mode": str(app.mode),
            "icon": app.icon,
            "icon_type": app.icon_type,
            "icon_background": app.icon_background,
            "description": app.description,
            "use_icon_as_answer_icon": app.use_icon_as_answer_icon,
        },
        "model_config": model_config,
        # ore has no plugins, so no app needs one.
        "dependencies": [],
    }
    return yaml.dump(document, Dumper=_DUMPER, allow_unicode=True, sort_keys=True)


def _drop_tool_credentials(model_config: dict[str, Any]) -> None:
    agent_mode = model_config.get("agent_mode")
    tools = agent_mode.get("tools") if isinstance(agent_mode, dict) else None
    for tool in tools if isinstance(tools, list) else []:
        if isinstance(tool, dict):
            tool.pop("credential_id", None)


# --- import --------------------------------------------------------------------------------


async def import_app(importer: Importer, request: ImportRequest) -> ImportResult:
    """Run ``POST /apps/imports``: create the app now, or keep the file as a pending
    import when its DSL version needs the user's confirmation (see :func:`version_status`).

    An unknown import mode is 400 ``invalid_param``; every other problem is ``failed``.
    """
    import_id = str(uuid.uuid4())
    try:
        mode = ImportMode(request.mode)
    except ValueError:
        raise InvalidParam(f"Invalid import_mode: {request.mode}") from None
    try:
        content = await _content(importer.http, mode, request)
        document = await parse_off_loop(content)
        version = document_version(document)
        status = version_status(version)
        _app_data(document)
        target = await _overwrite_target(importer, request.app_id)
        if status == ImportStatus.PENDING:
            await _store_pending(importer, import_id, content, request)
            return ImportResult(
                id=import_id,
                status=status,
                app_id=str(request.app_id) if request.app_id else None,
                imported_dsl_version=version,
            )
        app = await _create_app(importer, document, request.overrides, target)
    except DslError as error:
        return ImportResult(id=import_id, status=ImportStatus.FAILED, error=str(error))
    return _done(import_id, status, app, version)


async def confirm_import(importer: Importer, import_id: str) -> ImportResult:
    """Run ``POST /apps/imports/{id}/confirm``: import a pending file of this workspace.

    A pending import of another workspace is answered like an unknown one. A confirmation
    claims the import first, so a double click cannot create the app twice.
    """
    key = PENDING_KEY_PREFIX + import_id
    claim = key + ":claim"
    pending = _read_pending(await importer.kv.get(key), importer.tenant_id)
    if pending is None or not await importer.kv.set(
        claim, "1", ttl=PENDING_IMPORT_TTL, only_if_absent=True
    ):
        return ImportResult(
            id=import_id,
            status=ImportStatus.FAILED,
            error="Import information expired or does not exist",
        )
    try:
        document = await parse_off_loop(pending.yaml_content)
        version = document_version(document)
        target = await _overwrite_target(importer, pending.app_id)
        app = await _create_app(importer, document, pending.overrides, target)
    except DslError as error:
        await importer.kv.delete(claim)
        return ImportResult(id=import_id, status=ImportStatus.FAILED, error=str(error))
    await importer.kv.delete(key, claim)
    return _done(import_id, ImportStatus.COMPLETED, app, version)


def _done(import_id: str, status: ImportStatus, app: App, version: str) -> ImportResult:
    return ImportResult(
        id=import_id,
        status=status,
        app_id=str(app.id),
        app_mode=str(app.mode),
        imported_dsl_version=version,
    )


def github_raw_url(url: str) -> str:
    """A GitHub page of a YAML file (``https://github.com/o/r/blob/main/a.yml``) as its raw
    file URL, which is what an import needs; other URLs are returned unchanged."""
    parts = urlsplit(url)
    if (
        parts.scheme == "https"
        and parts.netloc == "github.com"
        and parts.path.endswith((".yml", ".yaml"))
        and "/blob/" in parts.path
    ):
        path = parts.path.replace("/blob/", "/", 1)
        return parts._replace(netloc="raw.githubusercontent.com", path=path).geturl()
    return url


async def _content(http: OutboundHttpClient, mode: ImportMode, request: ImportRequest) -> str:
    if mode == ImportMode.YAML_URL:
        if not request.yaml_url:
            raise DslError("yaml_url is required when import_mode is yaml-url")
        content = await fetch_yaml(http, request.yaml_url)
    else:
        if not request.yaml_content:
            raise DslError("yaml_content is required when import_mode is yaml-content")
        content = request.yaml_content
    if len(content.encode("utf-8", errors="surrogatepass")) > DSL_MAX_SIZE:
        raise DslError("File size exceeds the limit of 10MB")
    return content


async def fetch_yaml(http: OutboundHttpClient, url: str) -> str:
    """The text at ``url``, through the SSRF-guarded client for user-supplied URLs."""
    try:
        response = await http.request(
            "GET", github_raw_url(url.strip()), timeout=URL_FETCH_TIMEOUT, max_size=DSL_MAX_SIZE
        )
    except ResponseTooLarge as error:
        raise DslError("File size exceeds the limit of 10MB") from error
    except OutboundHttpError as error:
        raise DslError(f"Error fetching YAML from URL: {error.message}") from error
    if response.status_code >= 400:
        raise DslError(f"Error fetching YAML from URL: the server answered {response.status_code}")
    try:
        content = response.content.decode("utf-8")
    except UnicodeDecodeError as error:
        raise DslError("Error fetching YAML from URL: the content is not UTF-8 text") from error
    if not content:
        raise DslError("Empty content from url")
    return content


def parse_document(content: str) -> dict[str, Any]:
    """The file as a JSON-ready mapping (what the database columns can hold).

    YAML may hold values JSON cannot (dates, binary, sets, NaN, NUL characters) and
    aliases that expand to huge trees; these fail the import instead of a later write.
    """
    try:
        data = yaml.load(content, Loader=_LOADER)  # noqa: S506 (_LOADER is a safe loader)
        if not isinstance(data, dict):
            raise DslError("Invalid YAML format: content must be a mapping")
        safe: dict[str, Any] = _json_ready(data, _Budget())
    except yaml.YAMLError as error:
        raise DslError(f"Invalid YAML format: {error}") from error
    except RecursionError as error:
        raise DslError("Invalid YAML format: the content is nested too deeply") from error
    except UnicodeError as error:  # libyaml's answer to an unpaired surrogate
        raise DslError(f"Invalid YAML format: {error}") from error
    return safe


async def parse_off_loop(content: str) -> dict[str, Any]:
    """:func:`parse_document` in a worker thread: a 10 MB file takes a while to read, and
    the event loop serves other requests meanwhile."""
    return await anyio.to_thread.run_sync(parse_document, content)


# Values a file may hold once aliases are expanded: far above any real export.
MAX_VALUES = 1_000_000


@dataclass
class _Budget:
    left: int = MAX_VALUES

    def spend(self) -> None:
        self.left -= 1
        if self.left < 0:
            raise DslError("Invalid YAML format: the content is too large once expanded")


def _json_ready(value: Any, budget: _Budget) -> Any:
    budget.spend()
    if isinstance(value, dict):
        return {_json_key(key): _json_ready(item, budget) for key, item in value.items()}
    if isinstance(value, list):
        return [_json_ready(item, budget) for item in value]
    if isinstance(value, str):
        return _text(value)
    if isinstance(value, float) and not math.isfinite(value):
        raise DslError("Invalid YAML format: numbers must be finite (no .nan or .inf)")
    if value is None or isinstance(value, bool | int | float):
        return value
    if hasattr(value, "isoformat"):  # dates and timestamps
        return value.isoformat()
    raise DslError(f"Invalid YAML format: values of type {type(value).__name__} are not allowed")


def _text(value: str) -> str:
    """Text the databases can store: PostgreSQL refuses NUL and SQLite cuts at it, and
    neither takes an unpaired surrogate (which a ``"\\ud800"`` escape can make)."""
    if "\x00" in value:
        raise DslError("Invalid YAML format: text may not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as error:
        raise DslError("Invalid YAML format: text may not contain unpaired surrogates") from error
    return value


def _json_key(key: Any) -> str:
    if isinstance(key, str):
        return _text(key)
    if key is None or isinstance(key, bool | int | float):
        return json.dumps(key)
    raise DslError(f"Invalid YAML format: keys of type {type(key).__name__} are not allowed")


def document_version(document: Mapping[str, Any]) -> str:
    """The file's DSL version: ``0.1.0`` when missing (matches Dify); a string is required,
    since an unquoted ``0.2`` is a YAML number."""
    version = document.get("version") or DEFAULT_DSL_VERSION
    if not isinstance(version, str):
        raise DslError(f"Invalid version type, expected str, got {type(version).__name__}")
    return version


def version_status(imported: str, current: str = CURRENT_DSL_VERSION) -> ImportStatus:
    """matches Dify's rule: newer than this server, or an older major version, waits for
    confirmation; an older minor version imports with warnings; else it imports."""
    theirs, ours = _version_tuple(imported), _version_tuple(current)
    if theirs > ours or theirs[0] < ours[0]:
        return ImportStatus.PENDING
    if theirs[1] < ours[1]:
        return ImportStatus.COMPLETED_WITH_WARNINGS
    return ImportStatus.COMPLETED


def _version_tuple(version: str) -> tuple[int, int, int]:
    match = _VERSION.match(version.strip())
    if match is None:
        raise DslError(f"Invalid DSL version: {version}")
    major, minor, patch = (int(part or 0) for part in match.groups())
    return major, minor, patch


def _app_data(document: Mapping[str, Any]) -> dict[str, Any]:
    app_data = document.get("app")
    if not app_data or not isinstance(app_data, dict):
        raise DslError("Missing app data in YAML content")
    return app_data


async def _overwrite_target(importer: Importer, app_id: uuid.UUID | None) -> App | None:
    """The app an import with ``app_id`` replaces (matches Dify: only graph apps)."""
    if app_id is None:
        return None
    app = await apps.find_app(importer.session, importer.tenant_id, app_id)
    if app is None:
        raise DslError("App not found")
    if app.mode not in GRAPH_MODES:
        raise DslError("Only workflow or advanced chat apps can be overwritten")
    return app


async def _create_app(
    importer: Importer, document: Mapping[str, Any], overrides: Overrides, target: App | None
) -> App:
    """Check everything first, then write: a failed import leaves nothing behind."""
    app_data = _app_data(document)
    mode = _app_mode(app_data)
    if mode in GRAPH_MODES:
        raise DslError(GRAPH_APPS_NOT_SUPPORTED)
    if target is not None:
        raise DslError(f"A {mode} app cannot overwrite a {target.mode} app")
    config = imported_model_config(document.get("model_config"))
    fields = _app_fields(app_data, overrides)
    app = await apps.create_app(
        importer.session,
        importer.runtime,
        tenant_id=importer.tenant_id,
        account=importer.account,
        name=fields.name,
        mode=mode,
        description=fields.description,
        icon=fields.icon,
    )
    app.use_icon_as_answer_icon = fields.use_icon_as_answer_icon
    await apps.save_model_config(importer.session, app, config, importer.account.id)
    return app


def _app_mode(app_data: Mapping[str, Any]) -> AppMode:
    mode = app_data.get("mode")
    if not mode:
        raise DslError("Missing app mode in YAML content")
    try:
        return AppMode(mode)
    except ValueError:
        names = [str(m) for m in AppMode]
        raise DslError(f"Invalid app mode: {mode} (expected one of {names})") from None


@dataclass(frozen=True, slots=True)
class _AppFields:
    name: str
    description: str
    icon: apps.AppIcon
    use_icon_as_answer_icon: bool


def _app_fields(app_data: Mapping[str, Any], overrides: Overrides) -> _AppFields:
    """The new app's fields: a given override wins over the file (matches Dify)."""
    name = overrides.name or app_data.get("name")
    if not isinstance(name, str) or not name.strip() or len(name) > _NAME_LIMIT:
        raise DslError(f"app.name must be a text of 1 to {_NAME_LIMIT} characters")
    description = overrides.description or app_data.get("description") or ""
    if not isinstance(description, str):
        raise DslError("app.description must be a text")
    icon_type = overrides.icon_type or app_data.get("icon_type")
    icon = apps.AppIcon(
        icon_type=icon_type if icon_type in ICON_TYPES else "emoji",
        icon=_short_text("icon", overrides.icon or app_data.get("icon")),
        icon_background=_short_text(
            "icon_background", overrides.icon_background or app_data.get("icon_background")
        )
        or "#FFFFFF",
    )
    use_icon = app_data.get("use_icon_as_answer_icon") or False
    if not isinstance(use_icon, bool):
        raise DslError("app.use_icon_as_answer_icon must be a boolean")
    # Overrides come from the request, not the parsed file: check them for storage too.
    return _AppFields(_text(name), _text(description), icon, use_icon)


def _short_text(field: str, value: Any) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > _NAME_LIMIT:
        raise DslError(f"app.{field} must be a text of at most {_NAME_LIMIT} characters")
    return _text(value)


def imported_model_config(raw: Any) -> dict[str, Any]:
    """The config to store for a file's ``model_config``.

    Every part is checked and defaulted as ``POST /apps/{id}/model-config`` does, and
    unknown keys are dropped. The model is kept as the file names it (the provider in its
    plugin-era spelling) even when the workspace has not configured that provider: Dify
    imports it too, and the user can set the provider up or pick another model later.
    """
    if not raw or not isinstance(raw, dict):
        raise DslError("Missing model_config for chat/agent-chat/completion app")
    try:
        config = app_config.validate_features(raw)
    except InvalidParam as error:
        raise DslError(f"Invalid model_config: {error.message}") from error
    config["model"] = _imported_model(raw.get("model"))
    return config


def _imported_model(model: Any) -> dict[str, Any]:
    if not isinstance(model, dict):
        raise DslError("Invalid model_config: model must be of object type")
    provider, name = model.get("provider"), model.get("name")
    if not isinstance(provider, str) or not provider or not isinstance(name, str) or not name:
        raise DslError("Invalid model_config: model.provider and model.name are required")
    params = model.get("completion_params")
    params = {} if params is None else params
    if not isinstance(params, dict):
        raise DslError("Invalid model_config: model.completion_params must be of object type")
    mode = model.get("mode") or "chat"
    if not isinstance(mode, str):
        raise DslError("Invalid model_config: model.mode must be a text")
    return {
        "provider": app_config.plugin_provider_id(provider),
        "name": name,
        "mode": mode,
        "completion_params": copy.deepcopy(params),
    }


# --- the command line ----------------------------------------------------------------------


class WorkspaceRequired(InvalidParam):
    default_message = "There are several workspaces: name the one to import into."


async def app_by_id(session: AsyncSession, app_id: uuid.UUID) -> App:
    """Any workspace's app: the operator's command line is not scoped to one workspace."""
    app = await session.get(App, app_id)
    if app is None:
        raise apps.AppNotFound()
    return app


async def workspace_owner(
    session: AsyncSession, tenant_id: uuid.UUID | None
) -> tuple[uuid.UUID, Account]:
    """The workspace a command-line import goes to (the given one, else the only one) and
    its owner, whom the import acts as."""
    query = select(TenantAccountJoin).where(TenantAccountJoin.role == TenantRole.OWNER)
    if tenant_id is not None:
        query = query.where(TenantAccountJoin.tenant_id == tenant_id)
    owners = (await session.scalars(query.limit(2))).all()
    if not owners:
        raise NotFound("Workspace not found.")
    if len(owners) > 1:
        raise WorkspaceRequired()
    account = await session.get(Account, owners[0].account_id)
    if account is None:
        raise NotFound("Workspace owner not found.")
    return owners[0].tenant_id, account


# --- pending imports -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Pending:
    tenant_id: uuid.UUID
    yaml_content: str
    overrides: Overrides
    app_id: uuid.UUID | None


async def _store_pending(
    importer: Importer, import_id: str, content: str, request: ImportRequest
) -> None:
    record = {
        "tenant_id": str(importer.tenant_id),
        "yaml_content": content,
        "overrides": asdict(request.overrides),
        "app_id": str(request.app_id) if request.app_id else None,
    }
    await importer.kv.set(
        PENDING_KEY_PREFIX + import_id, json.dumps(record), ttl=PENDING_IMPORT_TTL
    )


def _read_pending(raw: bytes | None, tenant_id: uuid.UUID) -> _Pending | None:
    """The pending import stored under a key, if it belongs to this workspace."""
    if raw is None:
        return None
    record = json.loads(raw)
    if record.get("tenant_id") != str(tenant_id):
        return None
    app_id = record.get("app_id")
    return _Pending(
        tenant_id=tenant_id,
        yaml_content=record["yaml_content"],
        overrides=Overrides(**record["overrides"]),
        app_id=uuid.UUID(app_id) if app_id else None,
    )
