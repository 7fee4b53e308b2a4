"""The provider registry: entry points and a plugin directory."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from asgi_lifespan import LifespanManager

from ore.app_factory import create_app
from ore.core.model_runtime import ChatMessage, ChatRequest
from ore.core.model_runtime.anthropic_adapter import AnthropicAdapter
from ore.core.model_runtime.errors import ModelNotFound
from ore.core.model_runtime.openai_compat import AzureOpenAIAdapter, OpenAICompatibleAdapter
from ore.core.model_runtime.registry import ProviderRegistry, build_registry, split_model_id
from ore.extensions.model_runtime import ModelRuntime
from tests.conftest import make_settings

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


def _plugin_for(url: str) -> str:
    """A whole OpenAI-compatible vendor in one file, as docs/models.md shows it."""
    return f'''
from ore.core.model_runtime.vendors._common import embedding, llm, openai_vendor

provider = openai_vendor(
    "acme_local",
    "Acme (serve-local)",
    "{url}",
    [llm("SmolLM2-135M-Instruct", context=2048), embedding("all-MiniLM-L6-v2")],
    key_required=False,
)
'''


async def test_app_loads_plugins_from_provider_plugins_dir(
    database_url: str,
    tmp_path: Path,
    _clean_tables: None,
    local_openai_url: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "acme_local.py").write_text(_plugin_for(local_openai_url))
    (plugins / "broken.py").write_text("import ore_no_such_module\n")
    settings = make_settings(database_url, tmp_path, PROVIDER_PLUGINS_DIR=str(plugins))

    app = create_app(settings)
    with caplog.at_level(logging.ERROR, logger="ore.core.model_runtime.registry"):
        async with LifespanManager(app, startup_timeout=60, shutdown_timeout=60):
            runtime: ModelRuntime = app.state.ore.models
            assert "acme_local" in runtime.registry
            assert "local" in runtime.registry and "openai" in runtime.registry
            adapter = runtime.adapter("acme_local")
            assert adapter.descriptor.label.en_US == "Acme (serve-local)"
            # The plugin is a working provider: a real call through the app's HTTP client.
            await adapter.validate_credentials({}, http_client=runtime.http_client)
            result = await adapter.chat(
                ChatRequest(
                    model="SmolLM2-135M-Instruct",
                    messages=[ChatMessage(role="user", content="Hi")],
                    parameters={"max_tokens": 4},
                ),
                {"api_key": ""},
                http_client=runtime.http_client,
                policy=runtime.policy,
            )
            assert result.usage.completion_tokens > 0
    broken = [r for r in caplog.records if "broken.py did not load; skipped" in r.getMessage()]
    assert len(broken) == 1 and broken[0].exc_info is not None
    assert "ore_no_such_module" in str(broken[0].exc_info[1])
