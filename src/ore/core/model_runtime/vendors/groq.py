"""Groq (OpenAI-compatible API)."""

from ore.core.model_runtime.vendors._common import llm, openai_vendor

provider = openai_vendor(
    "groq",
    "Groq",
    "https://api.groq.com/openai/v1",
    [
        llm("llama-3.1-8b-instant", context=131072, price=("0.05", "0.08")),
        llm("llama-3.3-70b-versatile", context=131072, price=("0.59", "0.79")),
    ],
)
