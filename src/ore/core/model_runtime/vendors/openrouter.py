"""OpenRouter (OpenAI-compatible API)."""

from ore.core.model_runtime.vendors._common import llm, openai_vendor

provider = openai_vendor(
    "openrouter",
    "OpenRouter",
    "https://openrouter.ai/api/v1",
    [
        llm("openai/gpt-4o-mini", context=128000, price=("0.15", "0.60")),
        llm("anthropic/claude-3.5-haiku", context=200000),
    ],
)
