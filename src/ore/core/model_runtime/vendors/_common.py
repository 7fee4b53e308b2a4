"""Helpers that keep each vendor module to a few lines."""

from __future__ import annotations

from ore.core.model_runtime.catalogue import (
    ConfigurateMethod,
    Feature,
    FormField,
    I18n,
    ModelDescriptor,
    ModelType,
    Pricing,
    ProviderDescriptor,
    chat_rules,
)
from ore.core.model_runtime.openai_compat import OpenAICompatibleAdapter

CHAT_TOOLS: list[Feature] = ["tool-call", "multi-tool-call", "stream-tool-call"]


def api_key_field(required: bool = True, variable: str = "api_key") -> FormField:
    return FormField(
        variable=variable,
        label=I18n(en_US="API Key", zh_Hans="API Key"),
        type="secret-input",
        required=required,
        placeholder=I18n(en_US="Enter your API Key", zh_Hans="在此输入您的 API Key"),
    )


def base_url_field(default: str | None, variable: str = "base_url") -> FormField:
    return FormField(
        variable=variable,
        label=I18n(en_US="API Base URL", zh_Hans="API Base URL"),
        type="text-input",
        required=default is None,
        default=default,
        placeholder=I18n(en_US=default or "http://127.0.0.1:8000/v1"),
    )


def llm(
    name: str,
    *,
    context: int | None = None,
    max_output: int | None = None,
    price: tuple[str, str] | None = None,
    features: list[Feature] | None = None,
    currency: str = "USD",
) -> ModelDescriptor:
    """A chat model entry; ``price`` is (input, output) per 1M tokens, when known."""
    return ModelDescriptor(
        model=name,
        label=I18n(en_US=name),
        model_type="llm",
        features=list(CHAT_TOOLS if features is None else features),
        context_size=context,
        max_output_tokens=max_output,
        pricing=Pricing(input=price[0], output=price[1], currency=currency) if price else None,
        parameter_rules=chat_rules(max_output),
    )


def embedding(
    name: str, *, context: int | None = None, price: str | None = None
) -> ModelDescriptor:
    return ModelDescriptor(
        model=name,
        label=I18n(en_US=name),
        model_type="text-embedding",
        context_size=context,
        pricing=Pricing(input=price) if price else None,
    )


def openai_vendor(
    provider: str,
    label: str,
    base_url: str | None,
    models: list[ModelDescriptor],
    *,
    key_required: bool = True,
    description: str | None = None,
    model_types: list[ModelType] | None = None,
    methods: list[ConfigurateMethod] | None = None,
) -> OpenAICompatibleAdapter:
    """An OpenAI-compatible provider: descriptor plus adapter in one call."""
    types = model_types or sorted({m.model_type for m in models} or {"llm"})
    descriptor = ProviderDescriptor(
        provider=provider,
        label=I18n(en_US=label),
        description=I18n(en_US=description) if description else None,
        supported_model_types=types,
        configurate_methods=methods or ["predefined-model", "customizable-model"],
        credential_form_schemas=[api_key_field(key_required), base_url_field(base_url)],
        models=models,
    )
    return OpenAICompatibleAdapter(descriptor, base_url)
