"""vLLM (OpenAI-compatible API)."""

from ore.core.model_runtime.vendors._common import openai_vendor

provider = openai_vendor(
    "vllm",
    "vLLM",
    None,
    [],
    key_required=False,
    methods=["customizable-model"],
)
