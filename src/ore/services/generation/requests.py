"""The body of ``POST /chat-messages`` and ``/completion-messages``, checked as Dify does.

Checks run in Dify's order (spec dify-service-api.md §1–§4): the ``user`` first, then the
app's mode against the route, then the fields. Unknown fields are ignored.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ore.core.errors import BadRequest, InvalidParam
from ore.models import AppMode
from ore.services.end_users import user_string
from ore.services.generation.prompt import Turn

CHAT_MODES = frozenset({AppMode.CHAT, AppMode.AGENT_CHAT, AppMode.ADVANCED_CHAT})


class NotChatApp(BadRequest):
    code = "not_chat_app"
    default_message = "Please check if your app mode matches the right API route."


class AppUnavailable(BadRequest):
    code = "app_unavailable"
    default_message = "App unavailable, please check your app configurations."


@dataclass(frozen=True, slots=True)
class GenerationArgs:
    """One generation request; ``inputs`` are checked later, against the app's form."""

    user: str
    query: str
    inputs: Any
    conversation_id: uuid.UUID | None
    streaming: bool
    auto_generate_name: bool
    # The file objects sent along; checked once the app's file_upload config is known.
    files: tuple[Any, ...] = ()
    # Earlier turns a stateless caller sends along (OpenAI's API); used as the memory of a
    # new conversation only (a stored conversation's own history wins).
    history: tuple[Turn, ...] = ()


def _conversation_id(value: Any) -> uuid.UUID | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not isinstance(value, str):
        raise InvalidParam("conversation_id must be a valid UUID")
    try:
        return uuid.UUID(value.strip())
    except ValueError:
        raise InvalidParam("conversation_id must be a valid UUID") from None


def _query(value: Any, *, required: bool) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise InvalidParam("query must be a string")
    if required and not value:
        raise InvalidParam("query is required")
    return value.replace("\x00", "")


def _inputs(body: Mapping[str, Any]) -> Any:
    if body.get("inputs") is None:
        raise InvalidParam("inputs is required")
    return body["inputs"]


def _files(value: Any) -> tuple[Any, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise InvalidParam("files must be a list of file objects")
    return tuple(value)


def _flag(body: Mapping[str, Any], name: str, default: bool) -> bool:
    value = body.get(name)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise InvalidParam(f"{name} must be a boolean")
    return value


def chat_args(mode: str, body: Mapping[str, Any]) -> GenerationArgs:
    """The checked body of ``POST /chat-messages`` for an app of ``mode``."""
    user = user_string(body.get("user"), required=True)
    if mode not in CHAT_MODES:
        raise NotChatApp()
    streaming = body.get("response_mode") == "streaming"
    if mode == AppMode.AGENT_CHAT and not streaming:
        raise InvalidParam("Agent Chat App does not support blocking mode")
    conversation_id = _conversation_id(body.get("conversation_id"))
    return GenerationArgs(
        user=user,
        query=_query(body.get("query"), required=True),
        inputs=_inputs(body),
        conversation_id=conversation_id,
        streaming=streaming,
        auto_generate_name=_flag(body, "auto_generate_name", True),
        files=_files(body.get("files")),
    )


def completion_args(mode: str, body: Mapping[str, Any]) -> GenerationArgs:
    """The checked body of ``POST /completion-messages``; a non-completion app is
    ``app_unavailable`` (matches Dify's route)."""
    user = user_string(body.get("user"), required=True)
    if mode != AppMode.COMPLETION:
        raise AppUnavailable()
    return GenerationArgs(
        user=user,
        query=_query(body.get("query"), required=False),
        inputs=_inputs(body),
        conversation_id=None,
        streaming=body.get("response_mode") == "streaming",
        auto_generate_name=False,
        files=_files(body.get("files")),
    )
