"""Files sent with a generation: checked against the app's ``file_upload`` config, resolved
to the sender's own uploads or to a probed remote URL, and shown to a vision model.

Matches Dify (spec dify-service-api.md §3): the top-level ``files`` are read only when the
config turns file upload on (``file_upload.enabled``, or the legacy
``file_upload.image.enabled``); otherwise they are dropped without a word. Each refusal is
400 ``invalid_param`` with Dify's message: ``Invalid upload file`` for an id that is not
one of the sender's uploads (unknown and foreign ids alike, so no id leaks),
``Invalid file url``, ``File validation failed for file: <name>`` for a type, extension or
transfer method the config does not allow, ``Number of files exceeds the maximum limit
<n>``. A remote URL is probed with a HEAD through the user client, so a URL the SSRF policy
refuses is a 400 before any model is called.
"""

from __future__ import annotations

import asyncio
import base64
import mimetypes
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from sqlalchemy.ext.asyncio import AsyncSession

from ore.core.errors import InvalidParam
from ore.core.http import OutboundHttpClient
from ore.core.http.errors import OutboundHttpError
from ore.core.model_runtime.entities import ImagePart
from ore.extensions.storage import Storage
from ore.models import App, CreatorRole, EndUser, MessageFile, UploadFile
from ore.services.files import (
    AUDIO_EXTENSIONS,
    IMAGE_EXTENSIONS,
    VIDEO_EXTENSIONS,
    extension_of,
    owned_upload,
)
from ore.services.generation.inputs import form_variables

FILE_TYPES = frozenset({"image", "document", "audio", "video", "custom"})
LOCAL_FILE = "local_file"
REMOTE_URL = "remote_url"
TRANSFER_METHODS = frozenset({LOCAL_FILE, REMOTE_URL})
BELONGS_TO_USER = "user"
# A probe only reads headers; a slow host should not hold the start unit for long.
PROBE_TIMEOUT = 10.0
Detail = Literal["low", "high", "auto"]


# A remote file's (filename, media type), or why it cannot be used.
Probe = tuple[str, str] | InvalidParam


@dataclass(frozen=True, slots=True)
class FileAccess:
    """What resolving files needs from the process: stored bytes and the SSRF-guarded
    client for user-supplied URLs; plus, for one request, the remote files already probed
    by URL (:func:`probe_ahead`), which are then not requested again."""

    storage: Storage
    http: OutboundHttpClient
    probed: Mapping[str, Probe] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class FileRules:
    """What a ``file_upload`` config (or a file input variable) admits; None means any."""

    types: frozenset[str] | None = None
    extensions: frozenset[str] | None = None
    methods: frozenset[str] | None = None
    number_limits: int | None = None
    detail: Detail = "high"


@dataclass(frozen=True, slots=True)
class ResolvedFile:
    """One checked file: an upload of the sender's, or a remote URL."""

    type: str
    transfer_method: str
    filename: str
    extension: str
    mime_type: str
    upload: UploadFile | None = None
    url: str | None = None

    def reference(self) -> dict[str, Any]:
        """The file as a request names it (what inputs store)."""
        if self.upload is not None:
            return {
                "type": self.type,
                "transfer_method": self.transfer_method,
                "upload_file_id": str(self.upload.id),
            }
        return {"type": self.type, "transfer_method": self.transfer_method, "url": self.url}


def _strings(value: Any) -> frozenset[str] | None:
    """A non-empty list of strings as a set; anything else places no limit (as Dify)."""
    if not isinstance(value, list) or not value:
        return None
    return frozenset(item.strip().lower() for item in value if isinstance(item, str))


def _extensions(value: Any) -> frozenset[str] | None:
    found = _strings(value)
    return None if found is None else frozenset(item.lstrip(".") for item in found)


def _limit(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def _detail(image: Mapping[str, Any]) -> Detail:
    detail = image.get("detail")
    return detail if detail in ("low", "high", "auto") else "high"


def upload_rules(file_upload: Any) -> FileRules | None:
    """The rules of an app's ``file_upload`` config; None when file upload is off.

    The newer shape (``enabled``, ``allowed_file_types``, ``allowed_file_extensions``,
    ``allowed_file_upload_methods``, ``number_limits``) wins; the legacy
    ``image {enabled, number_limits, transfer_methods, detail}`` admits images only."""
    if not isinstance(file_upload, dict):
        return None
    legacy = file_upload.get("image")
    image: dict[str, Any] = legacy if isinstance(legacy, dict) else {}
    if file_upload.get("enabled") is True:
        return FileRules(
            types=_strings(file_upload.get("allowed_file_types")),
            extensions=_extensions(file_upload.get("allowed_file_extensions")),
            methods=_strings(file_upload.get("allowed_file_upload_methods")),
            number_limits=_limit(file_upload.get("number_limits")),
            detail=_detail(image),
        )
    if image.get("enabled") is True:
        return FileRules(
            types=frozenset({"image"}),
            methods=_strings(image.get("transfer_methods")),
            number_limits=_limit(image.get("number_limits")),
            detail=_detail(image),
        )
    return None


def variable_rules(settings: Mapping[str, Any]) -> FileRules:
    """The rules of a ``file`` or ``file-list`` input variable."""
    return FileRules(
        types=_strings(settings.get("allowed_file_types")),
        extensions=_extensions(settings.get("allowed_file_extensions")),
        methods=_strings(settings.get("allowed_file_upload_methods")),
    )


def kind_of(extension: str, mime_type: str) -> str:
    """Dify's kind of a file declared ``custom``: by extension, then by media type."""
    if extension in IMAGE_EXTENSIONS or mime_type.startswith("image/"):
        return "image"
    if extension in VIDEO_EXTENSIONS or mime_type.startswith("video/"):
        return "video"
    if extension in AUDIO_EXTENSIONS or mime_type.startswith("audio/"):
        return "audio"
    if mime_type.startswith("text/") or "pdf" in mime_type:
        return "document"
    return "custom"


def _admitted(rules: FileRules, declared: str, resolved: ResolvedFile) -> bool:
    """Dify's check: the declared type must be allowed (``custom`` goes by extension
    instead), and so must the transfer method. A file declared an image must be one: it
    goes to the model as a picture."""
    if rules.types is not None and declared != "custom" and declared not in rules.types:
        return False
    if rules.methods is not None and resolved.transfer_method not in rules.methods:
        return False
    if declared == "custom":
        return rules.extensions is None or resolved.extension in rules.extensions
    return declared != "image" or kind_of(resolved.extension, resolved.mime_type) == "image"


def url_filename(url: str) -> str:
    return url.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1] or "unknown_file"


async def probe_remote(http: OutboundHttpClient, url: str) -> tuple[str, str]:
    """(filename, media type) of a remote file, from its URL and a HEAD through the user
    client; a URL the client refuses or cannot reach is ``Invalid file url``."""
    filename = url_filename(url)
    mime_type = mimetypes.guess_type(filename)[0] or ""
    try:
        response = await http.request("HEAD", url, timeout=PROBE_TIMEOUT)
    except OutboundHttpError as error:
        raise InvalidParam(f"Invalid file url: {error.message}") from None
    if response.status_code == 200:
        disposition = response.headers.get("content-disposition") or ""
        if "filename=" in disposition:
            filename = disposition.split("filename=")[-1].strip().strip('"') or filename
        header_type = response.headers.get("content-type", "").split(";")[0].strip()
        mime_type = mime_type or header_type
    return filename, mime_type


async def _local(
    session: AsyncSession, app: App, end_user: EndUser, declared: str, item: dict[str, Any]
) -> ResolvedFile:
    file_id = item.get("upload_file_id")
    upload = await owned_upload(
        session, app, end_user, file_id if isinstance(file_id, str) else None
    )
    if upload is None:
        raise InvalidParam("Invalid upload file")
    mime_type = upload.mime_type or ""
    return ResolvedFile(
        type=declared if declared != "custom" else kind_of(upload.extension, mime_type),
        transfer_method=LOCAL_FILE,
        filename=upload.name,
        extension=upload.extension,
        mime_type=mime_type,
        upload=upload,
    )


def remote_urls(rules: FileRules | None, items: Any) -> list[str]:
    """The URLs that resolving ``items`` under ``rules`` would probe."""
    if rules is None or (rules.methods is not None and REMOTE_URL not in rules.methods):
        return []
    urls = []
    for item in items if isinstance(items, list | tuple) else []:
        if isinstance(item, dict) and item.get("transfer_method") == REMOTE_URL:
            url = item.get("url")
            if isinstance(url, str) and url.strip():
                urls.append(url.strip())
    return urls


def input_remote_urls(form: list[Any] | None, inputs: Mapping[str, Any]) -> list[str]:
    """The URLs that :func:`resolve_input_files` would probe for these inputs."""
    urls = []
    for kind, settings in form_variables(form):
        value = inputs.get(settings["variable"])
        if kind in ("file", "file-list") and isinstance(value, dict | list):
            urls += remote_urls(variable_rules(settings), [value] if kind == "file" else value)
    return urls


async def probe_ahead(access: FileAccess, urls: Sequence[str]) -> FileAccess:
    """``access`` with ``urls`` probed side by side, before any unit of work (a HEAD can
    take seconds). A URL that cannot be used is kept with its error, raised only if the
    file is resolved, so errors still come in the order the request's checks find them."""
    unique = [url for url in dict.fromkeys(urls) if url not in access.probed]
    if not unique:
        return access
    results = await asyncio.gather(
        *(probe_remote(access.http, url) for url in unique), return_exceptions=True
    )
    probed: dict[str, Probe] = dict(access.probed)
    for url, result in zip(unique, results, strict=True):
        if isinstance(result, BaseException) and not isinstance(result, InvalidParam):
            raise result
        probed[url] = result
    return replace(access, probed=probed)


async def _remote(
    access: FileAccess, rules: FileRules, declared: str, item: dict[str, Any]
) -> ResolvedFile:
    url = item.get("url")
    if not isinstance(url, str) or not url.strip():
        raise InvalidParam("Invalid file url")
    url = url.strip()
    if rules.methods is not None and REMOTE_URL not in rules.methods:
        # Refused before the probe: a URL the config does not allow is never requested.
        raise InvalidParam(f"File validation failed for file: {url_filename(url)}")
    known = access.probed.get(url)
    if isinstance(known, InvalidParam):
        raise InvalidParam(known.message)
    filename, mime_type = known if known is not None else await probe_remote(access.http, url)
    extension = extension_of(filename)
    return ResolvedFile(
        type=declared if declared != "custom" else kind_of(extension, mime_type),
        transfer_method=REMOTE_URL,
        filename=filename,
        extension=extension,
        mime_type=mime_type,
        url=url,
    )


async def _resolve_one(
    session: AsyncSession,
    app: App,
    end_user: EndUser,
    access: FileAccess,
    rules: FileRules,
    item: Any,
) -> ResolvedFile:
    if not isinstance(item, dict):
        raise InvalidParam("files must be a list of file objects")
    declared = item.get("type") or "custom"
    if declared not in FILE_TYPES:
        raise InvalidParam(f"Invalid file type: {declared}")
    method = item.get("transfer_method")
    if method == LOCAL_FILE:
        found = await _local(session, app, end_user, declared, item)
    elif method == REMOTE_URL:
        found = await _remote(access, rules, declared, item)
    else:
        raise InvalidParam(f"Invalid file transfer method: {method}")
    if not _admitted(rules, declared, found):
        raise InvalidParam(f"File validation failed for file: {found.filename}")
    return found


async def resolve_files(
    session: AsyncSession,
    app: App,
    end_user: EndUser,
    access: FileAccess,
    rules: FileRules,
    items: Sequence[Any],
) -> list[ResolvedFile]:
    """Each file object checked against ``rules`` and resolved; 400 on the first refusal."""
    if rules.number_limits is not None and len(items) > rules.number_limits:
        raise InvalidParam(f"Number of files exceeds the maximum limit {rules.number_limits}")
    return [await _resolve_one(session, app, end_user, access, rules, item) for item in items]


async def resolve_input_files(
    session: AsyncSession,
    app: App,
    end_user: EndUser,
    access: FileAccess,
    form: list[Any] | None,
    inputs: dict[str, Any],
) -> dict[str, Any]:
    """``inputs`` with each ``file`` / ``file-list`` value checked like ``files`` (against
    the variable's allowed types, extensions and methods, and the sender's uploads) and
    stored as the reference a request makes, whatever else the caller put in it."""
    checked = dict(inputs)
    for kind, settings in form_variables(form):
        name = settings["variable"]
        value = checked.get(name)
        if kind not in ("file", "file-list") or not isinstance(value, dict | list):
            continue
        items = [value] if kind == "file" else value
        rules = variable_rules(settings)
        found = [await _resolve_one(session, app, end_user, access, rules, i) for i in items]
        references = [file.reference() for file in found]
        checked[name] = references[0] if kind == "file" else references
    return checked


async def image_parts(
    storage: Storage, files: Iterable[ResolvedFile], detail: Detail
) -> list[ImagePart]:
    """The images for a vision model: an upload as a ``data:`` URL read from storage (the
    provider cannot reach ore), a remote image as its own URL."""
    parts: list[ImagePart] = []
    for file in files:
        if file.type != "image":
            continue
        if file.upload is not None:
            data = base64.b64encode(await storage.load(file.upload.key)).decode("ascii")
            mime_type = file.mime_type or mimetypes.guess_type(file.filename)[0] or "image/png"
            parts.append(ImagePart(url=f"data:{mime_type};base64,{data}", detail=detail))
        elif file.url:
            parts.append(ImagePart(url=file.url, detail=detail))
    return parts


def message_file_rows(
    app: App, message_id: uuid.UUID, end_user: EndUser, files: Iterable[ResolvedFile]
) -> list[MessageFile]:
    """The sender's files as rows of the message (``belongs_to`` user)."""
    return [
        MessageFile(
            tenant_id=app.tenant_id,
            message_id=message_id,
            type=file.type,
            transfer_method=file.transfer_method,
            url=file.url,
            belongs_to=BELONGS_TO_USER,
            upload_file_id=file.upload.id if file.upload is not None else None,
            created_by_role=CreatorRole.END_USER,
            created_by=end_user.id,
        )
        for file in files
    ]
