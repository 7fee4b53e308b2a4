"""LM Studio (OpenAI-compatible API)."""

from ore.core.model_runtime.vendors._common import openai_vendor

provider = openai_vendor(
    "lm_studio",
    "LM Studio",
    "http://127.0.0.1:1234/v1",
    [],
    key_required=False,
    methods=["customizable-model"],
)
