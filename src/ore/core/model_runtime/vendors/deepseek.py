"""DeepSeek (OpenAI-compatible API)."""

from ore.core.model_runtime.vendors._common import llm, openai_vendor

provider = openai_vendor(
    "deepseek",
    "DeepSeek",
    "https://api.deepseek.com/v1",
    [
        llm("deepseek-chat", max_output=8192),
        llm("deepseek-reasoner", max_output=65536, features=[]),
    ],
)
