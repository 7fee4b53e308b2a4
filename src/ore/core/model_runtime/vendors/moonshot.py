"""Moonshot AI (OpenAI-compatible API)."""

from ore.core.model_runtime.vendors._common import llm, openai_vendor

provider = openai_vendor(
    "moonshot",
    "Moonshot AI",
    "https://api.moonshot.cn/v1",
    [
        llm("moonshot-v1-8k", context=8192),
        llm("moonshot-v1-32k", context=32768),
        llm("moonshot-v1-128k", context=131072),
    ],
)
