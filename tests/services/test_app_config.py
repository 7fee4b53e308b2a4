"""Model config defaults and the checks on every key but the model (no database needed)."""

from __future__ import annotations

from typing import Any

import pytest

from ore.core.errors import InvalidParam
from ore.services import app_config


def test_default_config_of_a_chat_app() -> None:
    config = app_config.default_config("chat", "local", "SmolLM2-135M-Instruct")
    assert set(config) == set(app_config.CONFIG_KEYS)
    assert config["model"] == {
        "provider": "langgenius/local/local",
        "name": "SmolLM2-135M-Instruct",
        "mode": "chat",
        "completion_params": {},
    }
    assert config["pre_prompt"] == "" and config["user_input_form"] == []
    assert config["suggested_questions_after_answer"] == {"enabled": False}


def test_default_config_of_a_completion_app_asks_for_the_query() -> None:
    config = app_config.default_config("completion", "openai", "gpt-4o", "completion")
    assert config["model"]["mode"] == "completion"
    assert config["pre_prompt"] == "{{query}}"
    [field] = config["user_input_form"]
    assert field["paragraph"]["variable"] == "query" and field["paragraph"]["required"] is True


def test_defaults_are_fresh_copies() -> None:
    first = app_config.default_config("chat", "openai", "gpt-4o")
    first["file_upload"]["image"]["enabled"] = True
    first["suggested_questions"].append("mutated")
    second = app_config.default_config("chat", "openai", "gpt-4o")
    assert second["file_upload"]["image"]["enabled"] is False
    assert second["suggested_questions"] == []


def test_plugin_provider_id() -> None:
    assert app_config.plugin_provider_id("openai") == "langgenius/openai/openai"
    assert app_config.plugin_provider_id("langgenius/openai/openai") == "langgenius/openai/openai"


def test_with_defaults_fills_null_and_missing_keys() -> None:
    stored: dict[str, Any] = {"model": {"name": "m"}, "pre_prompt": "Hi", "more_like_this": None}
    config = app_config.with_defaults(stored)
    assert config["model"] == {"name": "m"} and config["pre_prompt"] == "Hi"
    assert config["more_like_this"] == {"enabled": False}
    assert config["agent_mode"] == {"enabled": False, "strategy": None, "tools": []}


def test_validate_features_keeps_known_keys_and_drops_the_rest() -> None:
    body = {
        "pre_prompt": "Be brief.",
        "speech_to_text": {"enabled": True},
        "agent_mode": {"enabled": True, "strategy": "function_call", "tools": [{"tool_name": "t"}]},
        "dataset_configs": {"retrieval_model": "single"},
        "user_input_form": [
            {"select": {"label": "Tone", "variable": "tone", "options": ["dry", "warm"]}},
            {"number": {"label": "Count", "variable": "count_2"}},
        ],
        "surprise": 1,
    }
    config = app_config.validate_features(body)
    assert "surprise" not in config and "model" not in config
    assert config["pre_prompt"] == "Be brief." and config["speech_to_text"] == {"enabled": True}
    assert config["agent_mode"]["strategy"] == "function_call"
    assert config["dataset_configs"] == {"retrieval_model": "single"}
    assert config["text_to_speech"] == {"enabled": False, "voice": "", "language": ""}
    # The caller's body is not changed by filling defaults.
    assert body["speech_to_text"] == {"enabled": True}
    switch_only: dict[str, Any] = {"more_like_this": {}}
    assert app_config.validate_features(switch_only)["more_like_this"] == {"enabled": False}
    assert switch_only == {"more_like_this": {}}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"opening_statement": 3}, "opening_statement must be of string type"),
        (
            {"suggested_questions": [1]},
            "Elements in suggested_questions list must be of string type",
        ),
        ({"text_to_speech": []}, "text_to_speech must be of dict type"),
        (
            {"sensitive_word_avoidance": {"enabled": True}},
            "sensitive_word_avoidance.type is required",
        ),
        (
            {"external_data_tools": ["x"]},
            "Elements in external_data_tools list must be of object type",
        ),
        (
            {"agent_mode": {"strategy": "magic"}},
            "strategy in agent_mode must be in "
            "['function_call', 'react', 'router', 'react_router']",
        ),
        ({"agent_mode": {"tools": "all"}}, "agent_mode.tools must be of list type"),
        (
            {"dataset_configs": {"retrieval_model": "some"}},
            "retrieval_model in dataset_configs must be in ['single', 'multiple']",
        ),
        ({"file_upload": "yes"}, "file_upload must be of dict type"),
        ({"prompt_type": "clever"}, "prompt_type must be in ['simple', 'advanced']"),
        ({"pre_prompt": ["a"]}, "pre_prompt must be of string type"),
    ],
)
def test_feature_errors(body: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidParam) as raised:
        app_config.validate_features(body)
    assert raised.value.message == message


@pytest.mark.parametrize(
    ("form", "fragment"),
    [
        ("text", "user_input_form must be of list type"),
        ([{"slider": {"variable": "x", "label": "X"}}], "Keys in user_input_form list"),
        (
            [{"text-input": {"variable": "x"}, "number": {"variable": "y"}}],
            "Keys in user_input_form list",
        ),
        ([{"text-input": "x"}], "must be of object type"),
        ([{"text-input": {"label": "X"}}], "variable is required in user_input_form"),
        ([{"text-input": {"variable": "1st"}}], "must start with a letter"),
        ([{"text-input": {"variable": "v" * 31}}], "must start with a letter"),
        ([{"text-input": {"variable": "a"}}, {"paragraph": {"variable": "a"}}], "appears twice"),
        ([{"select": {"variable": "s", "options": "a,b"}}], "options in user_input_form select"),
    ],
)
def test_user_input_form_errors(form: Any, fragment: str) -> None:
    with pytest.raises(InvalidParam) as raised:
        app_config.validate_features({"user_input_form": form})
    assert fragment in raised.value.message
