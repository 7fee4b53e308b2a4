"""SiliconFlow (OpenAI-compatible API)."""

from ore.core.model_runtime.vendors._common import llm, openai_vendor

provider = openai_vendor(
    "siliconflow",
    "SiliconFlow",
    "https://api.siliconflow.cn/v1",
    [
        llm("Qwen/Qwen2.5-7B-Instruct", context=32768),
        llm("deepseek-ai/DeepSeek-V3"),
    ],
)
