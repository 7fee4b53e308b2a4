"""What a client reads about an app: ``/parameters``, ``/meta``, ``/info``, ``/site``; and
the audio routes, which answer Dify's "disabled"/"not supported" errors until ore has a
speech model (spec dify-service-api.md section 4).

None of these routes reads ``user`` (section 1 table), except that ``/audio-to-text`` and
``/text-to-audio`` check it when sent.
"""

from __future__ import annotations

from typing import Any, ClassVar

from fastapi import APIRouter, Request
from starlette.datastructures import UploadFile as FormFile

from ore.config import Settings
from ore.controllers.deps import SessionDep, SettingsDep
from ore.controllers.service_api.conversations import optional_json
from ore.controllers.service_api.deps import ServiceApp
from ore.core.errors import BadRequest, Forbidden, InvalidParam, OreError
from ore.core.model_runtime.errors import ProviderNotInitialized
from ore.models import AppModelConfig, Site
from ore.services import apps, end_users
from ore.services.apps import SiteNotFound

router = APIRouter(tags=["service-api"])

# Dify's AudioService limits: 30 MB, these audio media types.
AUDIO_MAX_BYTES = 30 * 1024 * 1024
AUDIO_TYPES = frozenset(
    f"audio/{kind}" for kind in ("mp3", "mp4", "mpeg", "mpga", "m4a", "wav", "webm", "amr")
)
# Dify's icon for tools whose provider has none of its own.
DEFAULT_TOOL_ICON = {"background": "#252525", "content": "\U0001f601"}


class AppUnavailable(BadRequest):
    code = "app_unavailable"
    default_message = "App unavailable, please check your app configurations."


class SpeechToTextDisabled(BadRequest):
    code = "speech_to_text_disabled"
    default_message = "Speech to text is disabled."


class ProviderNotSupportSpeechToText(BadRequest):
    code = "provider_not_support_speech_to_text"
    default_message = "Provider not support speech to text."


class NoAudioUploaded(BadRequest):
    code = "no_audio_uploaded"
    default_message = "Please upload your audio."


class AudioTooLarge(OreError):
    code = "audio_too_large"
    status: ClassVar[int] = 413
    default_message = "Audio size exceeded."


class UnsupportedAudioType(OreError):
    code = "unsupported_audio_type"
    status: ClassVar[int] = 415
    default_message = "Audio type not allowed."


async def _features(session: SessionDep, app: ServiceApp) -> dict[str, Any] | None:
    config: AppModelConfig | None = await apps.current_config(session, app)
    return apps.config_dict(config) if config is not None else None


def system_parameters(settings: Settings) -> dict[str, int]:
    return {
        "file_size_limit": settings.UPLOAD_FILE_SIZE_LIMIT,
        "image_file_size_limit": settings.UPLOAD_IMAGE_FILE_SIZE_LIMIT,
        "audio_file_size_limit": settings.UPLOAD_AUDIO_FILE_SIZE_LIMIT,
        "video_file_size_limit": settings.UPLOAD_VIDEO_FILE_SIZE_LIMIT,
        "workflow_file_upload_limit": settings.WORKFLOW_FILE_UPLOAD_LIMIT,
    }


@router.get("/v1/parameters", summary="The app's input form, features and upload limits")
async def parameters(app: ServiceApp, session: SessionDep, settings: SettingsDep) -> dict[str, Any]:
    features = await _features(session, app)
    if features is None:
        raise AppUnavailable()
    return {
        "opening_statement": features["opening_statement"] or None,
        "suggested_questions": features["suggested_questions"],
        "suggested_questions_after_answer": features["suggested_questions_after_answer"],
        "speech_to_text": features["speech_to_text"],
        "text_to_speech": features["text_to_speech"],
        "retriever_resource": features["retriever_resource"],
        "annotation_reply": features["annotation_reply"],
        "more_like_this": features["more_like_this"],
        "user_input_form": features["user_input_form"],
        "sensitive_word_avoidance": features["sensitive_word_avoidance"],
        "file_upload": features["file_upload"],
        "system_parameters": system_parameters(settings),
    }


def _console_base(request: Request, settings: Settings) -> str:
    return (settings.CONSOLE_API_URL or str(request.base_url)).rstrip("/")


@router.get("/v1/meta", summary="Icons of the app's agent tools")
async def meta(
    request: Request, app: ServiceApp, session: SessionDep, settings: SettingsDep
) -> dict[str, Any]:
    features = await _features(session, app)
    tools = ((features or {}).get("agent_mode") or {}).get("tools") or []
    icons: dict[str, Any] = {}
    base = _console_base(request, settings)
    for tool in tools:
        name = tool.get("tool_name") if isinstance(tool, dict) else None
        if not isinstance(name, str) or not name:
            continue
        if tool.get("provider_type") == "builtin" and tool.get("provider_id"):
            icons[name] = (
                f"{base}/console/api/workspaces/current/tool-provider/builtin/"
                f"{tool['provider_id']}/icon"
            )
        else:
            icons[name] = dict(DEFAULT_TOOL_ICON)
    return {"tool_icons": icons}


@router.get("/v1/info", summary="The app's name, description, tags, mode and author")
async def info(app: ServiceApp, session: SessionDep) -> dict[str, Any]:
    view = await apps.view(session, app)
    return {
        "name": app.name,
        "description": app.description,
        "tags": [],
        "mode": app.mode,
        "author_name": view.author_name,
    }


def site_body(site: Site) -> dict[str, Any]:
    return {
        "title": site.title,
        "chat_color_theme": site.chat_color_theme,
        "chat_color_theme_inverted": site.chat_color_theme_inverted,
        "icon_type": site.icon_type,
        "icon": site.icon,
        "icon_background": site.icon_background,
        "icon_url": site.icon if site.icon_type == "link" else None,
        "description": site.description,
        "copyright": site.copyright,
        "privacy_policy": site.privacy_policy,
        "custom_disclaimer": site.custom_disclaimer,
        "default_language": site.default_language,
        "show_workflow_steps": site.show_workflow_steps,
        "use_icon_as_answer_icon": site.use_icon_as_answer_icon,
    }


@router.get("/v1/site", summary="The app's web app settings")
async def site(app: ServiceApp, session: SessionDep) -> dict[str, Any]:
    try:
        found = await apps.get_site(session, app)
    except SiteNotFound:
        raise Forbidden() from None
    return site_body(found)


def _enabled(features: dict[str, Any] | None, key: str) -> bool:
    return bool(((features or {}).get(key) or {}).get("enabled"))


@router.post("/v1/audio-to-text", summary="Speech to text (no speech model yet)")
async def audio_to_text(request: Request, app: ServiceApp, session: SessionDep) -> dict[str, Any]:
    """Dify's checks in Dify's order: feature switch, file, type, size, then the model,
    which ore does not have yet."""
    if not _enabled(await _features(session, app), "speech_to_text"):
        raise SpeechToTextDisabled()
    form = await request.form()
    end_users.user_string(form.get("user"), required=False)
    audio = form.get("file")
    if not isinstance(audio, FormFile):
        raise NoAudioUploaded()
    if audio.content_type not in AUDIO_TYPES:
        raise UnsupportedAudioType()
    if len(await audio.read(AUDIO_MAX_BYTES + 1)) > AUDIO_MAX_BYTES:
        raise AudioTooLarge("Audio size exceeded. Audio files may be at most 30 MB.")
    raise ProviderNotSupportSpeechToText()


@router.post("/v1/text-to-audio", summary="Text to speech (no speech model yet)")
async def text_to_audio(request: Request, app: ServiceApp, session: SessionDep) -> dict[str, Any]:
    body = await optional_json(request)
    end_users.user_string(body.get("user"), required=False)
    if not _enabled(await _features(session, app), "text_to_speech"):
        raise InvalidParam("TTS is not enabled")
    raise ProviderNotInitialized("No text-to-speech model is available in this workspace.")
