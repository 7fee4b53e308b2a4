"""Files end users upload through the Service API, and who may read them back.

An upload is checked against the settings (UPLOAD_*_SIZE_LIMIT by kind of file, in MB;
UPLOAD_FILE_EXTENSION_BLACKLIST), stored through the storage extension under a key of its
own workspace, and recorded with its SHA-256. A preview is served only for a file of the
app's workspace that a message of this app references (spec dify-service-api.md section 4).
"""

from __future__ import annotations

import hashlib
import re
import uuid
from typing import ClassVar

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ore.config import Settings
from ore.core.errors import BadRequest, Forbidden, NotFound, OreError
from ore.extensions.storage import Storage
from ore.models import App, CreatorRole, EndUser, Message, MessageFile, UploadFile
from ore.services.conversations import parse_id

MB = 1024 * 1024
# Dify's kinds of files, by extension; anything else is a document.
IMAGE_EXTENSIONS = frozenset({"jpg", "jpeg", "png", "webp", "gif", "svg"})
VIDEO_EXTENSIONS = frozenset({"mp4", "mov", "mpeg", "webm"})
AUDIO_EXTENSIONS = frozenset({"mp3", "m4a", "wav", "amr", "mpga"})
NAME_MAX_LENGTH = 200
# Extensions become part of a storage key: letters and digits only, so none can hold a
# path separator or a dot-dot.
_EXTENSION = re.compile(r"^[a-z0-9]{1,32}$")
MIME_TYPE_MAX_LENGTH = 255


class NoFileUploaded(BadRequest):
    code = "no_file_uploaded"
    default_message = "Please upload your file."


class TooManyFiles(BadRequest):
    code = "too_many_files"
    default_message = "Only one file is allowed."


class FilenameNotExists(BadRequest):
    code = "filename_not_exists_error"
    default_message = "The specified filename does not exist."


class FileTooLarge(OreError):
    code = "file_too_large"
    status: ClassVar[int] = 413
    default_message = "File size exceeded."


class UnsupportedFileType(OreError):
    code = "unsupported_file_type"
    status: ClassVar[int] = 415
    default_message = "File type not allowed."


class FileNotFound(NotFound):
    code = "file_not_found"
    default_message = "The requested file was not found."


class FileAccessDenied(Forbidden):
    code = "file_access_denied"
    default_message = "Access to the requested file is denied."


def extension_of(filename: str) -> str:
    return filename.rsplit(".", 1)[1].lower() if "." in filename else ""


def size_limit(settings: Settings, extension: str) -> int:
    """The largest upload of this kind of file, in MB."""
    if extension in IMAGE_EXTENSIONS:
        return settings.UPLOAD_IMAGE_FILE_SIZE_LIMIT
    if extension in VIDEO_EXTENSIONS:
        return settings.UPLOAD_VIDEO_FILE_SIZE_LIMIT
    if extension in AUDIO_EXTENSIONS:
        return settings.UPLOAD_AUDIO_FILE_SIZE_LIMIT
    return settings.UPLOAD_FILE_SIZE_LIMIT


def blacklist(settings: Settings) -> frozenset[str]:
    values = settings.UPLOAD_FILE_EXTENSION_BLACKLIST.split(",")
    return frozenset(value.strip().lstrip(".").lower() for value in values if value.strip())


def check_upload(settings: Settings, filename: str, mime_type: str | None) -> int:
    """415 for a file type this server refuses; else the size limit of its kind, in bytes.

    Like Dify, a part without a media type is refused, and so is a blacklisted extension;
    so is an extension that is not plain letters and digits (it becomes part of a key).
    """
    extension = extension_of(filename)
    if not mime_type or len(mime_type) > MIME_TYPE_MAX_LENGTH:
        raise UnsupportedFileType()
    if extension and not _EXTENSION.match(extension):
        raise UnsupportedFileType()
    if extension in blacklist(settings):
        raise UnsupportedFileType()
    return size_limit(settings, extension) * MB


def _short_name(filename: str, extension: str) -> str:
    """Long names keep their start and their extension, as Dify trims them."""
    if len(filename) <= NAME_MAX_LENGTH:
        return filename
    stem = filename[: NAME_MAX_LENGTH - len(extension) - 1]
    return f"{stem}.{extension}" if extension else filename[:NAME_MAX_LENGTH]


async def store_upload(
    session: AsyncSession,
    storage: Storage,
    storage_type: str,
    app: App,
    end_user: EndUser,
    *,
    filename: str,
    mime_type: str,
    data: bytes,
) -> UploadFile:
    """Record the file, then save the bytes under a new key of the app's workspace (a row
    the database refuses leaves no file behind)."""
    extension = extension_of(filename)
    file_id = uuid.uuid4()
    key = f"upload_files/{app.tenant_id}/{file_id}" + (f".{extension}" if extension else "")
    row = UploadFile(
        id=file_id,
        tenant_id=app.tenant_id,
        storage_type=storage_type,
        key=key,
        name=_short_name(filename, extension),
        size=len(data),
        extension=extension,
        mime_type=mime_type,
        created_by_role=CreatorRole.END_USER,
        created_by=end_user.id,
        hash=hashlib.sha256(data).hexdigest(),
    )
    session.add(row)
    await session.flush()
    await storage.save(key, data)
    return row


async def previewable_file(session: AsyncSession, app: App, file_id: str) -> UploadFile:
    """A file of the app's workspace that a message of this app references.

    404 ``file_not_found`` for a file of another workspace or one no message uses; 403
    ``file_access_denied`` for a file only other apps' messages use.
    """
    wanted = parse_id(file_id)
    upload = None
    if wanted is not None:
        upload = await session.scalar(
            select(UploadFile).where(UploadFile.id == wanted, UploadFile.tenant_id == app.tenant_id)
        )
    if upload is None:
        raise FileNotFound()
    apps_using = set(
        await session.scalars(
            select(Message.app_id)
            .join(MessageFile, MessageFile.message_id == Message.id)
            .where(MessageFile.upload_file_id == upload.id)
        )
    )
    if app.id in apps_using:
        return upload
    if apps_using:
        raise FileAccessDenied()
    raise FileNotFound()


async def owned_upload(
    session: AsyncSession, app: App, end_user: EndUser, file_id: str | None
) -> UploadFile | None:
    """A file this end user uploaded in the app's workspace (files in messages may only be
    the sender's own uploads); None for any other id."""
    wanted = parse_id(file_id)
    if wanted is None:
        return None
    found: UploadFile | None = await session.scalar(
        select(UploadFile).where(
            UploadFile.id == wanted,
            UploadFile.tenant_id == app.tenant_id,
            UploadFile.created_by_role == CreatorRole.END_USER,
            UploadFile.created_by == end_user.id,
        )
    )
    return found
