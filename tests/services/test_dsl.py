"""The DSL helpers that need no database: version rule, GitHub links, parsing, and the
model config an imported file yields (DSL spec sections 1 and 9)."""

from __future__ import annotations

import pytest
import yaml

from ore.services import app_config
from ore.services.dsl import (
    CURRENT_DSL_VERSION,
    DslError,
    ImportStatus,
    document_version,
    github_raw_url,
    imported_model_config,
    parse_document,
    version_status,
)


@pytest.mark.parametrize(
    ("imported", "current", "status"),
    [
        ("0.6.0", "0.6.0", ImportStatus.COMPLETED),
        ("0.6", "0.6.0", ImportStatus.COMPLETED),
        ("0.6.0", "0.6.3", ImportStatus.COMPLETED),  # an older patch is not a warning
        ("0.5.9", "0.6.0", ImportStatus.COMPLETED_WITH_WARNINGS),
        ("0.1.0", "0.6.0", ImportStatus.COMPLETED_WITH_WARNINGS),
        ("0.6.1", "0.6.0", ImportStatus.PENDING),  # newer than this server
        ("0.7.0", "0.6.0", ImportStatus.PENDING),
        ("1.0.0", "0.6.0", ImportStatus.PENDING),
        ("0.9.0", "1.2.0", ImportStatus.PENDING),  # an older major version
        ("1.1.0", "1.2.0", ImportStatus.COMPLETED_WITH_WARNINGS),
    ],
)
def test_version_status(imported: str, current: str, status: ImportStatus) -> None:
    assert version_status(imported, current) == status


def test_current_version_is_dify_1_13s() -> None:
    assert CURRENT_DSL_VERSION == "0.6.0"
    assert version_status(CURRENT_DSL_VERSION) == ImportStatus.COMPLETED


def test_unreadable_versions_fail() -> None:
    with pytest.raises(DslError, match="Invalid DSL version: latest"):
        version_status("latest")
    with pytest.raises(DslError, match="Invalid version type, expected str, got float"):
        document_version(parse_document("version: 0.2\n"))
    assert document_version({}) == "0.1.0"
    assert document_version({"version": None}) == "0.1.0"
    assert document_version({"version": "0.1.5"}) == "0.1.5"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "https://github.com/o/r/blob/main/dsl/app.yml",
            "https://raw.githubusercontent.com/o/r/main/dsl/app.yml",
        ),
        (
            "https://github.com/o/r/blob/v1/a.yaml?plain=1",
            "https://raw.githubusercontent.com/o/r/v1/a.yaml?plain=1",
        ),
        # Left alone: not a YAML file, not a blob page, not https, not github.com.
        ("https://github.com/o/r/blob/main/README.md", None),
        ("https://github.com/o/r/raw/main/a.yml", None),
        ("http://github.com/o/r/blob/main/a.yml", None),
        ("https://gist.github.com/o/blob/a.yml", None),
    ],
)
def test_github_blob_links_become_raw(url: str, expected: str | None) -> None:
    assert github_raw_url(url) == (expected or url)


@pytest.mark.parametrize(
    ("content", "error"),
    [
        ("- a\n- b\n", "Invalid YAML format: content must be a mapping"),
        ("just text", "Invalid YAML format: content must be a mapping"),
        ("a: [b\n", "Invalid YAML format: while parsing"),
        ("a: .nan\n", "numbers must be finite"),
        ("a: [1, .inf]\n", "numbers must be finite"),
        ('a: "x\\0y"\n', "may not contain NUL"),
        ("a: b\ud800\n", "Invalid YAML format"),
        ('a: "\\ud800"\n', "Invalid YAML format"),
        ("a: !!binary aGVsbG8=\n", "values of type bytes are not allowed"),
        ("a: !!set {x, y}\n", "values of type set are not allowed"),
        ("? [a, b]\n: c\n", "Invalid YAML format"),
        ("!!python/object:os.system {}\n", "Invalid YAML format"),
    ],
)
def test_parse_refuses_what_cannot_be_stored(content: str, error: str) -> None:
    with pytest.raises(DslError, match=error.replace("[", r"\[").replace(".", r"\.")):
        parse_document(content)


def test_parse_makes_values_json_ready() -> None:
    document = parse_document("when: 2024-05-01\n1: one\nnull: none\nok: [true, 2, 2.5, x]\n")
    assert document == {
        "when": "2024-05-01",
        "1": "one",
        "null": "none",
        "ok": [True, 2, 2.5, "x"],
    }


def test_alias_bombs_are_refused() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for level in range(1, 9):
        below = f"*a{level - 1}"
        lines.append(f"a{level}: &a{level} [{', '.join([below] * 10)}]")
    with pytest.raises(DslError, match="too large once expanded"):
        parse_document("\n".join(lines) + "\n")


def test_deep_nesting_is_refused() -> None:
    with pytest.raises(DslError, match="Invalid YAML format"):
        parse_document("a: " + "[" * 20000 + "]" * 20000 + "\n")


def test_model_config_is_checked_defaulted_and_keeps_an_unconfigured_provider() -> None:
    raw = {
        "model": {"provider": "anthropic", "name": "claude-x", "completion_params": {"t": 1}},
        "pre_prompt": "Hi {{who}}",
        "user_input_form": [{"text-input": {"variable": "who", "label": "Who"}}],
        "not_a_key": 1,
    }
    config = imported_model_config(raw)
    assert config["model"] == {
        "provider": "langgenius/anthropic/anthropic",
        "name": "claude-x",
        "mode": "chat",
        "completion_params": {"t": 1},
    }
    assert config["pre_prompt"] == "Hi {{who}}"
    assert config["more_like_this"] == {"enabled": False}
    assert "not_a_key" not in config
    assert set(config) == set(app_config.CONFIG_KEYS)


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        (None, "Missing model_config for chat/agent-chat/completion app"),
        ({}, "Missing model_config for chat/agent-chat/completion app"),
        ("text", "Missing model_config for chat/agent-chat/completion app"),
        ({"pre_prompt": "x"}, "Invalid model_config: model must be of object type"),
        ({"model": {"provider": "openai"}}, "model.provider and model.name are required"),
        (
            {"model": {"provider": "openai", "name": "m", "completion_params": []}},
            "model.completion_params must be of object type",
        ),
        (
            {"model": {"provider": "openai", "name": "m"}, "prompt_type": "odd"},
            "Invalid model_config: prompt_type must be in",
        ),
        (
            {"model": {"provider": "openai", "name": "m"}, "user_input_form": [{"bad": {}}]},
            "Invalid model_config: Keys in user_input_form",
        ),
    ],
)
def test_bad_model_configs_fail(raw: object, error: str) -> None:
    with pytest.raises(DslError, match=error.replace("[", r"\[")):
        imported_model_config(raw)


def test_exported_yaml_shape_is_plain_yaml() -> None:
    # What export writes must load back with a safe loader (no Python tags).
    text = yaml.safe_dump({"a": "{{query}}", "b": "中文"}, allow_unicode=True, sort_keys=True)
    assert "中文" in text
    assert parse_document(text) == {"a": "{{query}}", "b": "中文"}
