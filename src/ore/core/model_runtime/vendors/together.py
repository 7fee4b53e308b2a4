"""Together AI (OpenAI-compatible API)."""

from ore.core.model_runtime.vendors._common import llm, openai_vendor

provider = openai_vendor(
    "together",
    "Together AI",
    "https://api.together.xyz/v1",
    [
        llm("meta-llama/Llama-3.3-70B-Instruct-Turbo", context=131072),
    ],
)
