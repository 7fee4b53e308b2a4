"""Tongyi Qwen (OpenAI-compatible API)."""

from ore.core.model_runtime.vendors._common import llm, openai_vendor

provider = openai_vendor(
    "tongyi",
    "Tongyi Qwen",
    "https://dashscope.aliyuncs.com/compatible-mode/v1",
    [
        llm("qwen-max"),
        llm("qwen-plus"),
        llm("qwen-turbo"),
    ],
)
