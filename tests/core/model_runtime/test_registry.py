"""The provider registry: entry points and a plugin directory."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from ore.core.model_runtime.anthropic_adapter import AnthropicAdapter
from ore.core.model_runtime.errors import ModelNotFound
from ore.core.model_runtime.openai_compat import AzureOpenAIAdapter, OpenAICompatibleAdapter
from ore.core.model_runtime.registry import ProviderRegistry, build_registry, split_model_id

BUILT_INS = {
    "openai", "openai_api_compatible", "azure_openai", "anthropic", "vllm", "ollama",
    "lm_studio", "llamacpp_server", "localai", "xinference", "deepseek", "tongyi",
    "moonshot", "zhipuai", "siliconflow", "groq", "together", "openrouter", "mistralai",
}  # fmt: skip


def test_entry_points_load_the_built_ins() -> None:
    registry = ProviderRegistry()
    assert registry.load_entry_points() >= len(BUILT_INS)
    assert set(registry.ids()) >= BUILT_INS
    assert isinstance(registry.get("anthropic"), AnthropicAdapter)
    assert isinstance(registry.get("azure_openai"), AzureOpenAIAdapter)
    ollama = registry.get("ollama")
    assert isinstance(ollama, OpenAICompatibleAdapter)
    assert ollama.default_base_url == "http://127.0.0.1:11434/v1"


def test_unknown_provider_is_a_clear_400() -> None:
    with pytest.raises(ModelNotFound, match="Unknown model provider: nope") as caught:
        ProviderRegistry().get("nope")
    assert caught.value.status == 400


PLUGIN = """
from ore.core.model_runtime.vendors._common import llm, openai_vendor

provider = openai_vendor("acme", "Acme", "http://127.0.0.1:9/v1", [llm("acme-1")])
"""


def test_plugin_directory_loads_good_and_skips_broken(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "acme.py").write_text(PLUGIN)
    (tmp_path / "broken.py").write_text("raise RuntimeError('boom at import')\n")
    (tmp_path / "empty.py").write_text("x = 1\n")
    (tmp_path / "notes.txt").write_text("ignored")
    with caplog.at_level(logging.WARNING, logger="ore.core.model_runtime.registry"):
        registry = build_registry(tmp_path)
    assert "acme" in registry.ids() and "openai" in registry.ids()
    assert registry.get("acme").model_descriptor("acme-1") is not None
    messages = [r.getMessage() for r in caplog.records]
    assert any("broken.py did not load; skipped" in m for m in messages)
    assert any("empty.py exposes no `provider`" in m for m in messages)


def test_plugin_with_bad_provider_object_is_skipped(tmp_path: Path) -> None:
    (tmp_path / "odd.py").write_text("provider = 42\n")
    registry = ProviderRegistry()
    assert registry.load_directory(tmp_path) == 0
    assert registry.ids() == []


@pytest.mark.parametrize(
    ("model_id", "expected"),
    [
        ("openai/gpt-4o", ("openai", "gpt-4o")),
        ("siliconflow/Qwen/Qwen2.5-7B-Instruct", ("siliconflow", "Qwen/Qwen2.5-7B-Instruct")),
    ],
)
def test_split_model_id(model_id: str, expected: tuple[str, str]) -> None:
    assert split_model_id(model_id) == expected


@pytest.mark.parametrize("model_id", ["gpt-4o", "/gpt-4o", "openai/"])
def test_split_model_id_refuses_bare_names(model_id: str) -> None:
    with pytest.raises(ModelNotFound):
        split_model_id(model_id)
