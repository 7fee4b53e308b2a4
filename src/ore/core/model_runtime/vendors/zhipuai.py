"""ZHIPU AI (OpenAI-compatible API)."""

from ore.core.model_runtime.vendors._common import llm, openai_vendor

provider = openai_vendor(
    "zhipuai",
    "ZHIPU AI",
    "https://open.bigmodel.cn/api/paas/v4",
    [
        llm("glm-4-plus"),
        llm("glm-4-flash"),
    ],
)
