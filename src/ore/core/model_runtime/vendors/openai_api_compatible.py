"""OpenAI-API-compatible (OpenAI-compatible API)."""

from ore.core.model_runtime.vendors._common import openai_vendor

provider = openai_vendor(
    "openai_api_compatible",
    "OpenAI-API-compatible",
    None,
    [],
    key_required=False,
    methods=["customizable-model"],
)
