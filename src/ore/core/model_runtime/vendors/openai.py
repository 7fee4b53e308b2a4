"""OpenAI (OpenAI-compatible API)."""

from ore.core.model_runtime.vendors._common import CHAT_TOOLS, embedding, llm, openai_vendor

provider = openai_vendor(
    "openai",
    "OpenAI",
    "https://api.openai.com/v1",
    [
        llm(
            "gpt-4o",
            context=128000,
            max_output=16384,
            price=("2.50", "10.00"),
            features=[*CHAT_TOOLS, "vision", "structured-output"],
        ),
        llm(
            "gpt-4o-mini",
            context=128000,
            max_output=16384,
            price=("0.15", "0.60"),
            features=[*CHAT_TOOLS, "vision", "structured-output"],
        ),
        llm(
            "gpt-4.1",
            context=1047576,
            max_output=32768,
            price=("2.00", "8.00"),
            features=[*CHAT_TOOLS, "vision", "structured-output"],
        ),
        embedding("text-embedding-3-small", context=8191, price="0.02"),
        embedding("text-embedding-3-large", context=8191, price="0.13"),
    ],
)
