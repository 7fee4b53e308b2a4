"""Mistral AI (OpenAI-compatible API)."""

from ore.core.model_runtime.vendors._common import embedding, llm, openai_vendor

provider = openai_vendor(
    "mistralai",
    "Mistral AI",
    "https://api.mistral.ai/v1",
    [
        llm("mistral-large-latest", context=131072),
        llm("mistral-small-latest", context=32768),
        embedding("mistral-embed", context=8192),
    ],
)
