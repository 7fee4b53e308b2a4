"""The response shapes of the spec (dify-service-api.md §4-§6), as key -> accepted types.

Clients ignore extra keys, so a shape names the keys that must be there and the types their
values must have; a server may add more.
"""

from __future__ import annotations

from typing import Any

Shape = dict[str, type | tuple[type, ...]]

NONE = type(None)
STR_OR_NONE = (str, NONE)
NUMBER = (int, float)

USAGE: Shape = {
    "prompt_tokens": int,
    "prompt_unit_price": str,
    "prompt_price_unit": str,
    "prompt_price": str,
    "completion_tokens": int,
    "completion_unit_price": str,
    "completion_price_unit": str,
    "completion_price": str,
    "total_tokens": int,
    "total_price": str,
    "currency": str,
    "latency": NUMBER,
}
BLOCKING_COMPLETION: Shape = {
    "event": str,
    "task_id": str,
    "id": str,
    "message_id": str,
    "mode": str,
    "answer": str,
    "metadata": dict,
    "created_at": int,
}
BLOCKING_CHAT: Shape = BLOCKING_COMPLETION | {"conversation_id": str}
COMPLETION_EVENT: Shape = {"event": str, "task_id": str, "message_id": str, "created_at": int}
CHAT_EVENT: Shape = COMPLETION_EVENT | {"conversation_id": str}
CONVERSATION: Shape = {
    "id": str,
    "name": str,
    "inputs": dict,
    "status": str,
    "introduction": STR_OR_NONE,
    "created_at": int,
    "updated_at": int,
}
CURSOR_PAGE: Shape = {"limit": int, "has_more": bool, "data": list}
NUMBERED_PAGE: Shape = CURSOR_PAGE | {"total": int, "page": int}
MESSAGE: Shape = {
    "id": str,
    "conversation_id": str,
    "parent_message_id": STR_OR_NONE,
    "inputs": dict,
    "query": str,
    "answer": str,
    "message_files": list,
    "feedback": (dict, NONE),
    "retriever_resources": list,
    "agent_thoughts": list,
    "status": str,
    "error": STR_OR_NONE,
    "created_at": int,
}
FILE: Shape = {
    "id": str,
    "name": str,
    "size": int,
    "extension": STR_OR_NONE,
    "mime_type": STR_OR_NONE,
    "created_by": str,
    "created_at": int,
}
ENABLED: Shape = {"enabled": bool}
PARAMETERS: Shape = {
    "opening_statement": STR_OR_NONE,
    "suggested_questions": list,
    "suggested_questions_after_answer": dict,
    "speech_to_text": dict,
    "text_to_speech": dict,
    "retriever_resource": dict,
    "annotation_reply": dict,
    "more_like_this": dict,
    "sensitive_word_avoidance": dict,
    "user_input_form": list,
    "file_upload": dict,
    "system_parameters": dict,
}
SYSTEM_PARAMETERS: Shape = {
    "file_size_limit": int,
    "image_file_size_limit": int,
    "audio_file_size_limit": int,
    "video_file_size_limit": int,
    "workflow_file_upload_limit": int,
}
INFO: Shape = {"name": str, "description": STR_OR_NONE, "tags": list, "mode": str}
SITE: Shape = {
    "title": str,
    "chat_color_theme": STR_OR_NONE,
    "chat_color_theme_inverted": bool,
    "icon_type": STR_OR_NONE,
    "icon": STR_OR_NONE,
    "icon_background": STR_OR_NONE,
    "icon_url": STR_OR_NONE,
    "description": STR_OR_NONE,
    "copyright": STR_OR_NONE,
    "privacy_policy": STR_OR_NONE,
    "custom_disclaimer": STR_OR_NONE,
    "default_language": str,
    "show_workflow_steps": bool,
    "use_icon_as_answer_icon": bool,
}
ANNOTATION: Shape = {
    "id": str,
    "question": str,
    "answer": str,
    "hit_count": int,
    "created_at": int,
}
ERROR: Shape = {"code": str, "message": str, "status": int}


def check(value: Any, shape: Shape) -> None:
    """``value`` is an object holding every key of ``shape``, each of an accepted type."""
    assert isinstance(value, dict), value
    missing = set(shape) - set(value)
    assert not missing, f"missing {sorted(missing)} in {value}"
    for key, accepted in shape.items():
        # bool is an int in Python; a JSON true must not pass for a number.
        wrong_bool = isinstance(value[key], bool) and bool not in _types(accepted)
        assert isinstance(value[key], accepted) and not wrong_bool, f"{key}={value[key]!r}"


def check_error(body: Any, status: int, code: str) -> None:
    check(body, ERROR)
    assert (body["status"], body["code"]) == (status, code), body


def _types(accepted: type | tuple[type, ...]) -> tuple[type, ...]:
    return accepted if isinstance(accepted, tuple) else (accepted,)
