"""Xorbits Inference (OpenAI-compatible API)."""

from ore.core.model_runtime.vendors._common import openai_vendor

provider = openai_vendor(
    "xinference",
    "Xorbits Inference",
    "http://127.0.0.1:9997/v1",
    [],
    key_required=False,
    methods=["customizable-model"],
)
