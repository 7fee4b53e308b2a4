"""The model config of basic apps (chat, agent-chat, completion): defaults and validation.

A config is Dify's flat mapping (DSL spec section 1.3). :func:`validate_model_config`
follows the rules of Dify's ``POST /apps/{id}/model-config`` (console spec section 8): the
model must be an LLM the workspace can call, ``completion_params.stop`` is a list of at
most four strings, every other sub-config gets its default, and keys the validator does
not know are dropped. ``model.provider`` is stored in Dify's plugin-era spelling
(``langgenius/openai/openai``), as Dify exports it; :func:`ore.services.model_providers.provider_id`
turns it back into ore's short id.
"""

from __future__ import annotations

import copy
import math
import re
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from ore.core.errors import InvalidParam
from ore.extensions.model_runtime import ModelRuntime
from ore.models import AppMode
from ore.services.model_providers import available_models, provider_id

# Used when a workspace has no default LLM (matches Dify's app templates).
FALLBACK_PROVIDER = "openai"
FALLBACK_MODEL = "gpt-4o"
MAX_STOP_SEQUENCES = 4
BASIC_MODES = frozenset({AppMode.CHAT, AppMode.AGENT_CHAT, AppMode.COMPLETION})

# Switch-like features: {"enabled": bool, ...}.
_SWITCHES: dict[str, dict[str, Any]] = {
    "suggested_questions_after_answer": {"enabled": False},
    "speech_to_text": {"enabled": False},
    "text_to_speech": {"enabled": False, "voice": "", "language": ""},
    "retriever_resource": {"enabled": False},
    "annotation_reply": {"enabled": False},
    "more_like_this": {"enabled": False},
}
DEFAULTS: dict[str, Any] = {
    "opening_statement": "",
    "suggested_questions": [],
    **_SWITCHES,
    "sensitive_word_avoidance": {"enabled": False, "type": "", "configs": []},
    "external_data_tools": [],
    "user_input_form": [],
    "dataset_query_variable": "",
    "pre_prompt": "",
    "agent_mode": {"enabled": False, "strategy": None, "tools": []},
    "prompt_type": "simple",
    "chat_prompt_config": {},
    "completion_prompt_config": {},
    "dataset_configs": {"retrieval_model": "multiple"},
    "file_upload": {
        "image": {
            "enabled": False,
            "number_limits": 3,
            "detail": "high",
            "transfer_methods": ["remote_url", "local_file"],
        }
    },
}
# The keys of a whole config, in the order responses list them.
CONFIG_KEYS: tuple[str, ...] = ("model", *DEFAULTS)

INPUT_TYPES = frozenset(
    {
        "text-input",
        "paragraph",
        "select",
        "number",
        "checkbox",
        "file",
        "file-list",
        "json_object",
        "external_data_tool",
    }
)
_VARIABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,29}$")
_PROMPT_TYPES = ("simple", "advanced")
_AGENT_STRATEGIES = (None, "function_call", "react", "router", "react_router")
_RETRIEVAL_MODELS = ("single", "multiple")


def plugin_provider_id(provider: str) -> str:
    """A short provider id as Dify's plugin-era id: ``openai`` is ``langgenius/openai/openai``."""
    return provider if "/" in provider else f"langgenius/{provider}/{provider}"


def default_config(
    mode: str, provider: str, model: str, model_mode: str = "chat"
) -> dict[str, Any]:
    """The config a new basic app starts with (matches Dify's app templates): the given
    model, and for completion apps a ``query`` paragraph input used by the prompt."""
    config = copy.deepcopy(DEFAULTS)
    config["model"] = {
        "provider": plugin_provider_id(provider),
        "name": model,
        "mode": model_mode,
        "completion_params": {},
    }
    if mode == AppMode.COMPLETION:
        config["user_input_form"] = [
            {"paragraph": {"label": "Query", "variable": "query", "required": True, "default": ""}}
        ]
        config["pre_prompt"] = "{{query}}"
    return config


def with_defaults(stored: Mapping[str, Any]) -> dict[str, Any]:
    """A stored config with every key present (null or missing values take the default)."""
    result: dict[str, Any] = {"model": stored.get("model")}
    for key, default in DEFAULTS.items():
        value = stored.get(key)
        result[key] = copy.deepcopy(default) if value is None else value
    return result


async def validate_model_config(
    session: AsyncSession,
    runtime: ModelRuntime,
    tenant_id: uuid.UUID,
    body: Mapping[str, Any],
) -> dict[str, Any]:
    """The whole config to store for ``body``; 400 ``invalid_param`` naming the first rule
    it breaks. Unknown keys are dropped."""
    config = validate_features(body)
    config["model"] = await _validate_model(session, runtime, tenant_id, body.get("model"))
    _require_finite(config)
    return config


def _require_finite(value: Any) -> None:
    """Python's JSON parser accepts NaN and Infinity, which PostgreSQL's json type and
    other JSON readers refuse: reject them here rather than fail when storing."""
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidParam("The model config may not contain NaN or Infinity.")
    if isinstance(value, dict):
        for item in value.values():
            _require_finite(item)
    elif isinstance(value, list):
        for item in value:
            _require_finite(item)


def validate_features(body: Mapping[str, Any]) -> dict[str, Any]:
    """Every key but ``model``: checked, defaulted, and in a fresh dict."""
    config: dict[str, Any] = {}
    for key, default in DEFAULTS.items():
        value = body.get(key)
        config[key] = copy.deepcopy(default if value is None else value)
        _CHECKS[key](key, config[key])
    _check_prompt(config)
    return config


async def _validate_model(
    session: AsyncSession, runtime: ModelRuntime, tenant_id: uuid.UUID, model: Any
) -> dict[str, Any]:
    if not isinstance(model, Mapping):
        raise InvalidParam("model must be of object type")
    models = await available_models(session, runtime, tenant_id, "llm")
    providers = sorted({m.provider for m in models})
    given = model.get("provider")
    short = provider_id(given) if isinstance(given, str) else None
    if short not in providers:
        names = [plugin_provider_id(p) for p in providers]
        raise InvalidParam(f"model.provider is required and must be in {names}")
    name = model.get("name")
    if not isinstance(name, str) or not name:
        raise InvalidParam("model.name is required")
    found = next((m for m in models if m.provider == short and m.model == name), None)
    if found is None:
        raise InvalidParam("model.name must be in the specified model list")
    params = model.get("completion_params")
    if not isinstance(params, Mapping):
        raise InvalidParam("model.completion_params is required")
    params = dict(params)
    stop = params.setdefault("stop", [])
    if not isinstance(stop, list) or not all(isinstance(s, str) for s in stop):
        raise InvalidParam("stop in model.completion_params must be of list type")
    if len(stop) > MAX_STOP_SEQUENCES:
        raise InvalidParam(
            f"stop in model.completion_params must be less than {MAX_STOP_SEQUENCES}"
        )
    mode = found.descriptor.mode if found.descriptor is not None else "chat"
    return {
        "provider": plugin_provider_id(found.provider),
        "name": found.model,
        "mode": mode,
        "completion_params": params,
    }


def _expect(key: str, value: Any, kind: type, kind_name: str) -> None:
    if not isinstance(value, kind):
        raise InvalidParam(f"{key} must be of {kind_name} type")


def _check_string(key: str, value: Any) -> None:
    _expect(key, value, str, "string")


def _check_variable_name(key: str, value: Any) -> None:
    _check_string(key, value)
    if value and not _VARIABLE.match(value):
        raise InvalidParam(f"{key} must be empty or the name of a user_input_form variable")


def _check_switch(key: str, value: Any) -> None:
    _expect(key, value, dict, "dict")
    if not isinstance(value.get("enabled", False), bool):
        raise InvalidParam(f"enabled in {key} must be of boolean type")
    value.setdefault("enabled", False)


def _check_string_list(key: str, value: Any) -> None:
    _expect(key, value, list, "list")
    if not all(isinstance(item, str) for item in value):
        raise InvalidParam(f"Elements in {key} list must be of string type")


def _check_object_list(key: str, value: Any) -> None:
    _expect(key, value, list, "list")
    if not all(isinstance(item, dict) for item in value):
        raise InvalidParam(f"Elements in {key} list must be of object type")


def _check_sensitive_words(key: str, value: Any) -> None:
    _check_switch(key, value)
    if value["enabled"] and not value.get("type"):
        raise InvalidParam("sensitive_word_avoidance.type is required")


def _check_user_input_form(key: str, value: Any) -> None:
    _check_object_list(key, value)
    seen: set[str] = set()
    for item in value:
        if len(item) != 1 or next(iter(item)) not in INPUT_TYPES:
            raise InvalidParam(
                f"Keys in user_input_form list can only be one of {sorted(INPUT_TYPES)}"
            )
        form = next(iter(item.values()))
        if not isinstance(form, dict):
            raise InvalidParam("Elements in user_input_form list must be of object type")
        variable = form.get("variable")
        if not isinstance(variable, str) or not variable:
            raise InvalidParam("variable is required in user_input_form")
        if not _VARIABLE.match(variable):
            raise InvalidParam(
                f"variable {variable!r} in user_input_form must start with a letter or "
                "underscore, and hold at most 30 letters, digits and underscores"
            )
        if variable in seen:
            raise InvalidParam(f"variable {variable!r} appears twice in user_input_form")
        seen.add(variable)
        if "select" in item and not isinstance(form.get("options", []), list):
            raise InvalidParam("options in user_input_form select must be of list type")


def _check_agent_mode(key: str, value: Any) -> None:
    _check_switch(key, value)
    if value.get("strategy") not in _AGENT_STRATEGIES:
        raise InvalidParam(
            f"strategy in agent_mode must be in {[s for s in _AGENT_STRATEGIES if s]}"
        )
    value.setdefault("tools", [])
    _check_object_list("agent_mode.tools", value["tools"])


def _check_dataset_configs(key: str, value: Any) -> None:
    _expect(key, value, dict, "dict")
    if value.setdefault("retrieval_model", "multiple") not in _RETRIEVAL_MODELS:
        raise InvalidParam(
            f"retrieval_model in dataset_configs must be in {list(_RETRIEVAL_MODELS)}"
        )


def _check_dict(key: str, value: Any) -> None:
    _expect(key, value, dict, "dict")


def _check_prompt(config: dict[str, Any]) -> None:
    if config["prompt_type"] not in _PROMPT_TYPES:
        raise InvalidParam(f"prompt_type must be in {list(_PROMPT_TYPES)}")


_CHECKS: dict[str, Callable[[str, Any], None]] = {
    "opening_statement": _check_string,
    "suggested_questions": _check_string_list,
    **dict.fromkeys(_SWITCHES, _check_switch),
    "sensitive_word_avoidance": _check_sensitive_words,
    "external_data_tools": _check_object_list,
    "user_input_form": _check_user_input_form,
    "dataset_query_variable": _check_variable_name,
    "pre_prompt": _check_string,
    "agent_mode": _check_agent_mode,
    "prompt_type": _check_string,
    "chat_prompt_config": _check_dict,
    "completion_prompt_config": _check_dict,
    "dataset_configs": _check_dataset_configs,
    "file_upload": _check_dict,
}
