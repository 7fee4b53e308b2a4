"""GET /v1/parameters, /v1/meta, /v1/info, /v1/site and the audio routes' Dify errors."""

from __future__ import annotations

import uuid

import httpx
from sqlalchemy import delete

from ore.config import Settings
from ore.models import Site
from tests.controllers.service_api.conftest import local_workspace, make_service_app
from tests.controllers.service_api.test_conversations import patch_config
from tests.factories import db_session

PARAMETER_FIELDS = {
    "opening_statement",
    "suggested_questions",
    "suggested_questions_after_answer",
    "speech_to_text",
    "text_to_speech",
    "retriever_resource",
    "annotation_reply",
    "more_like_this",
    "user_input_form",
    "sensitive_word_avoidance",
    "file_upload",
    "system_parameters",
}
SITE_FIELDS = {
    "title",
    "chat_color_theme",
    "chat_color_theme_inverted",
    "icon_type",
    "icon",
    "icon_background",
    "icon_url",
    "description",
    "copyright",
    "privacy_policy",
    "custom_disclaimer",
    "default_language",
    "show_workflow_steps",
    "use_icon_as_answer_icon",
}


async def test_parameters_follow_the_model_config(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    member = await local_workspace(settings)
    chat = await make_service_app(client, member)
    response = await client.get("/v1/parameters", params={"user": "x"}, headers=chat.headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == PARAMETER_FIELDS
    assert body["opening_statement"] is None and body["suggested_questions"] == []
    for switch in ("suggested_questions_after_answer", "speech_to_text", "retriever_resource"):
        assert body[switch] == {"enabled": False}
    assert body["user_input_form"] == []
    assert body["file_upload"] == {
        "image": {
            "enabled": False,
            "number_limits": 3,
            "detail": "high",
            "transfer_methods": ["remote_url", "local_file"],
        }
    }
    assert body["system_parameters"] == {
        "file_size_limit": settings.UPLOAD_FILE_SIZE_LIMIT,
        "image_file_size_limit": settings.UPLOAD_IMAGE_FILE_SIZE_LIMIT,
        "audio_file_size_limit": settings.UPLOAD_AUDIO_FILE_SIZE_LIMIT,
        "video_file_size_limit": settings.UPLOAD_VIDEO_FILE_SIZE_LIMIT,
        "workflow_file_upload_limit": settings.WORKFLOW_FILE_UPLOAD_LIMIT,
    }

    form = [{"select": {"label": "Tone", "variable": "tone", "required": True, "options": ["a"]}}]
    await patch_config(
        settings,
        chat.app_id,
        opening_statement="Welcome!",
        suggested_questions=["What can you do?"],
        more_like_this={"enabled": True},
        user_input_form=form,
    )
    body = (await client.get("/v1/parameters", headers=chat.headers)).json()
    assert body["opening_statement"] == "Welcome!"
    assert body["suggested_questions"] == ["What can you do?"]
    assert body["more_like_this"] == {"enabled": True}
    assert body["user_input_form"] == form

    completion = await make_service_app(client, member, mode="completion")
    body = (await client.get("/v1/parameters", headers=completion.headers)).json()
    assert body["user_input_form"][0]["paragraph"]["variable"] == "query"

    workflow = await make_service_app(client, member, mode="workflow")
    response = await client.get("/v1/parameters", headers=workflow.headers)
    assert response.status_code == 400
    assert response.json() == {
        "code": "app_unavailable",
        "message": "App unavailable, please check your app configurations.",
        "status": 400,
    }


async def test_meta_lists_agent_tool_icons(client: httpx.AsyncClient, settings: Settings) -> None:
    member = await local_workspace(settings)
    chat = await make_service_app(client, member)
    response = await client.get("/v1/meta", params={"user": "x"}, headers=chat.headers)
    assert response.status_code == 200
    assert response.json() == {"tool_icons": {}}

    agent = await make_service_app(client, member, mode="agent-chat")
    tools = [
        {"provider_type": "builtin", "provider_id": "time", "tool_name": "current_time"},
        {"provider_type": "api", "provider_id": "p1", "tool_name": "lookup"},
    ]
    await patch_config(
        settings, agent.app_id, agent_mode={"enabled": True, "strategy": "react", "tools": tools}
    )
    icons = (await client.get("/v1/meta", headers=agent.headers)).json()["tool_icons"]
    assert icons["current_time"] == (
        "http://testserver/console/api/workspaces/current/tool-provider/builtin/time/icon"
    )
    assert icons["lookup"] == {"background": "#252525", "content": "\U0001f601"}


async def test_info_and_site(client: httpx.AsyncClient, settings: Settings) -> None:
    member = await local_workspace(settings)
    chat = await make_service_app(client, member, name="Helpdesk")
    response = await client.get("/v1/info", headers=chat.headers)
    assert response.status_code == 200
    assert response.json() == {
        "name": "Helpdesk",
        "description": "",
        "tags": [],
        "mode": "chat",
        "author_name": member.account.name,
    }

    site = await client.get("/v1/site", headers=chat.headers)
    assert site.status_code == 200, site.text
    body = site.json()
    assert set(body) == SITE_FIELDS
    assert body["title"] == "Helpdesk" and body["show_workflow_steps"] is True
    assert body["icon_url"] is None and body["chat_color_theme_inverted"] is False

    async with db_session(settings) as session:
        await session.execute(delete(Site).where(Site.app_id == uuid.UUID(chat.app_id)))
    gone = await client.get("/v1/site", headers=chat.headers)
    assert gone.status_code == 403 and gone.json()["code"] == "forbidden"


async def test_audio_routes_answer_disabled_or_not_supported(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    chat = await make_service_app(client, await local_workspace(settings))
    wav = {"file": ("hello.wav", b"RIFF0000WAVE", "audio/wav")}

    disabled = await client.post(
        "/v1/audio-to-text", data={"user": "alice"}, files=wav, headers=chat.headers
    )
    assert disabled.status_code == 400
    assert disabled.json() == {
        "code": "speech_to_text_disabled",
        "message": "Speech to text is disabled.",
        "status": 400,
    }
    tts = await client.post(
        "/v1/text-to-audio", json={"text": "hi", "user": "alice"}, headers=chat.headers
    )
    assert tts.status_code == 400 and tts.json()["code"] == "invalid_param"

    await patch_config(
        settings, chat.app_id, speech_to_text={"enabled": True}, text_to_speech={"enabled": True}
    )
    no_file = await client.post("/v1/audio-to-text", data={"user": "a"}, headers=chat.headers)
    assert no_file.status_code == 400 and no_file.json()["code"] == "no_audio_uploaded"
    wrong_type = await client.post(
        "/v1/audio-to-text",
        files={"file": ("a.txt", b"x", "text/plain")},
        headers=chat.headers,
    )
    assert wrong_type.status_code == 415
    assert wrong_type.json()["code"] == "unsupported_audio_type"
    supported = await client.post("/v1/audio-to-text", files=wav, headers=chat.headers)
    assert supported.status_code == 400
    assert supported.json() == {
        "code": "provider_not_support_speech_to_text",
        "message": "Provider not support speech to text.",
        "status": 400,
    }
    tts = await client.post("/v1/text-to-audio", json={"text": "hi"}, headers=chat.headers)
    assert tts.status_code == 400 and tts.json()["code"] == "provider_not_initialize"
    bad_json = await client.post(
        "/v1/text-to-audio",
        content=b"{",
        headers={**chat.headers, "Content-Type": "application/json"},
    )
    assert bad_json.status_code == 400 and bad_json.json()["code"] == "bad_request"


async def test_routes_need_the_apps_key(client: httpx.AsyncClient, settings: Settings) -> None:
    for path in ("/v1/parameters", "/v1/meta", "/v1/info", "/v1/site", "/v1/conversations"):
        response = await client.get(path, headers={"Authorization": "Bearer app-unknown"})
        assert response.status_code == 401, path
        assert response.json()["message"] == "Access token is invalid"
