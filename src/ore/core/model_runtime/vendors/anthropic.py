"""Anthropic (Messages API)."""

from ore.core.model_runtime.anthropic_adapter import AnthropicAdapter
from ore.core.model_runtime.catalogue import (
    STOP,
    TOP_P,
    I18n,
    ModelDescriptor,
    ParameterRule,
    ProviderDescriptor,
    max_tokens_rule,
)
from ore.core.model_runtime.vendors._common import CHAT_TOOLS, api_key_field, base_url_field, llm


def _claude(name: str, max_output: int, price: tuple[str, str]) -> ModelDescriptor:
    model = llm(
        name, context=200000, max_output=max_output, price=price, features=[*CHAT_TOOLS, "vision"]
    )
    model.parameter_rules = [
        ParameterRule(name="temperature", min=0, max=1, default=1.0, precision=2),
        TOP_P,
        ParameterRule(name="top_k", type="int", min=1),
        max_tokens_rule(max_output, default=4096),
        STOP,
    ]
    return model


provider = AnthropicAdapter(
    ProviderDescriptor(
        provider="anthropic",
        label=I18n(en_US="Anthropic"),
        supported_model_types=["llm"],
        configurate_methods=["predefined-model"],
        credential_form_schemas=[
            api_key_field(variable="anthropic_api_key"),
            base_url_field("https://api.anthropic.com", variable="anthropic_api_url"),
        ],
        models=[
            _claude("claude-sonnet-4-20250514", 64000, ("3.00", "15.00")),
            _claude("claude-haiku-4-5-20251001", 64000, ("1.00", "5.00")),
            _claude("claude-opus-4-20250514", 32000, ("15.00", "75.00")),
        ],
    ),
    "https://api.anthropic.com",
)
