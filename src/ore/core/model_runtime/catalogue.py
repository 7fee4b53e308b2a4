"""The catalogue as data: providers, their credential forms, models and parameter rules.

Shapes follow Dify's console (spec/dify-console-api.md §7) so a UI can render them as is.
:func:`validate_parameters` checks a call's parameters against a model's rules before any
request leaves ore.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, Field

from ore.core.model_runtime.errors import InvalidModelParameter

ModelType = Literal["llm", "text-embedding", "rerank"]
Feature = Literal["tool-call", "multi-tool-call", "stream-tool-call", "vision", "structured-output"]
FieldType = Literal["text-input", "secret-input", "select", "radio", "switch"]
ConfigurateMethod = Literal["predefined-model", "customizable-model"]


class I18n(BaseModel):
    en_US: str
    zh_Hans: str | None = None


class ShowOn(BaseModel):
    variable: str
    value: str


class FormOption(BaseModel):
    label: I18n
    value: str
    show_on: list[ShowOn] = Field(default_factory=list)


class FormField(BaseModel):
    """One field of a credential form (Dify's ``credential_form_schemas`` item)."""

    variable: str
    label: I18n
    type: FieldType = "text-input"
    required: bool = False
    default: str | None = None
    options: list[FormOption] = Field(default_factory=list)
    placeholder: I18n | None = None
    max_length: int = 0
    show_on: list[ShowOn] = Field(default_factory=list)


class ParameterRule(BaseModel):
    """One tunable parameter of a model (Dify's parameter rule shape)."""

    name: str
    label: I18n | None = None
    type: Literal["float", "int", "string", "boolean", "text"] = "float"
    required: bool = False
    default: Any = None
    min: float | None = None
    max: float | None = None
    precision: int | None = None
    options: list[str] = Field(default_factory=list)
    help: I18n | None = None


class Pricing(BaseModel):
    """Prices per 1M tokens, as decimal strings."""

    input: str
    output: str = "0"
    currency: str = "USD"

    def unit_prices(self) -> tuple[Decimal, Decimal]:
        """Price per single token, input and output."""
        million = Decimal(1_000_000)
        return Decimal(self.input) / million, Decimal(self.output) / million


class ModelDescriptor(BaseModel):
    model: str
    label: I18n | None = None
    model_type: ModelType = "llm"
    features: list[Feature] = Field(default_factory=list)
    context_size: int | None = None
    max_output_tokens: int | None = None
    mode: Literal["chat", "completion"] = "chat"
    pricing: Pricing | None = None
    parameter_rules: list[ParameterRule] = Field(default_factory=list)
    deprecated: bool = False

    def model_properties(self) -> dict[str, Any]:
        """Dify's ``model_properties`` object."""
        props: dict[str, Any] = {"mode": self.mode}
        if self.context_size:
            props["context_size"] = self.context_size
        return props


_LLM_ONLY: tuple[ModelType, ...] = ("llm",)
_PREDEFINED: tuple[ConfigurateMethod, ...] = ("predefined-model",)


class ProviderDescriptor(BaseModel):
    """What the console shows of a provider, and what the runtime needs to call it."""

    provider: str
    label: I18n
    description: I18n | None = None
    supported_model_types: list[ModelType] = Field(default_factory=lambda: list(_LLM_ONLY))
    configurate_methods: list[ConfigurateMethod] = Field(default_factory=lambda: list(_PREDEFINED))
    credential_form_schemas: list[FormField] = Field(default_factory=list)
    model_credential_schemas: list[FormField] = Field(default_factory=list)
    models: list[ModelDescriptor] = Field(default_factory=list)
    help_url: str | None = None

    def find_model(self, name: str, model_type: ModelType = "llm") -> ModelDescriptor | None:
        """The predefined model of that name and type, if the catalogue lists it."""
        for model in self.models:
            if model.model == name and model.model_type == model_type:
                return model
        return None


# --- common parameter rules (Dify's templates, restated as data) -------------------------

TEMPERATURE = ParameterRule(name="temperature", min=0, max=2, default=1.0, precision=2)
TOP_P = ParameterRule(name="top_p", min=0, max=1, default=1.0, precision=2)
PRESENCE_PENALTY = ParameterRule(name="presence_penalty", min=-2, max=2, default=0.0)
FREQUENCY_PENALTY = ParameterRule(name="frequency_penalty", min=-2, max=2, default=0.0)
SEED = ParameterRule(name="seed", type="int", min=0)
STOP = ParameterRule(name="stop", type="string")


def max_tokens_rule(maximum: int | None, default: int | None = None) -> ParameterRule:
    """``max_tokens`` bounded by the model's output limit."""
    return ParameterRule(name="max_tokens", type="int", min=1, max=maximum, default=default or None)


def chat_rules(max_output_tokens: int | None = None) -> list[ParameterRule]:
    """The rules shared by OpenAI-style chat models."""
    return [
        TEMPERATURE,
        TOP_P,
        PRESENCE_PENALTY,
        FREQUENCY_PENALTY,
        max_tokens_rule(max_output_tokens),
        SEED,
        STOP,
    ]


# --- validation -------------------------------------------------------------------------


def _check_type(rule: ParameterRule, value: Any) -> Any:
    name = rule.name
    if rule.type == "boolean":
        if not isinstance(value, bool):
            raise InvalidModelParameter(f"{name} must be a boolean.", parameter=name)
        return value
    if rule.type in ("float", "int"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InvalidModelParameter(f"{name} must be a number.", parameter=name)
        if rule.type == "int" and not float(value).is_integer():
            raise InvalidModelParameter(f"{name} must be an integer.", parameter=name)
        return int(value) if rule.type == "int" else float(value)
    if name == "stop" and isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    if not isinstance(value, str):
        raise InvalidModelParameter(f"{name} must be a string.", parameter=name)
    return value


def _check_rule(rule: ParameterRule, value: Any) -> Any:
    value = _check_type(rule, value)
    name = rule.name
    if isinstance(value, int | float) and not isinstance(value, bool):
        if rule.min is not None and value < rule.min:
            raise InvalidModelParameter(
                f"{name} must be at least {rule.min:g}, got {value}.", parameter=name
            )
        if rule.max is not None and value > rule.max:
            raise InvalidModelParameter(
                f"{name} must be at most {rule.max:g}, got {value}.", parameter=name
            )
    if rule.options and value not in rule.options:
        allowed = ", ".join(rule.options)
        raise InvalidModelParameter(f"{name} must be one of: {allowed}.", parameter=name)
    return value


def validate_parameters(rules: list[ParameterRule], parameters: dict[str, Any]) -> dict[str, Any]:
    """Check ``parameters`` against ``rules``; returns them coerced (ints stay ints).

    Unknown names, wrong types and out-of-range values raise
    :class:`InvalidModelParameter` naming the parameter; missing required ones too.
    ``None`` values are dropped (the provider's default applies).
    """
    by_name = {rule.name: rule for rule in rules}
    checked: dict[str, Any] = {}
    for name, value in parameters.items():
        rule = by_name.get(name)
        if rule is None:
            raise InvalidModelParameter(f"Unknown parameter: {name}.", parameter=name)
        if value is not None:
            checked[name] = _check_rule(rule, value)
    for rule in rules:
        if rule.required and rule.name not in checked:
            raise InvalidModelParameter(f"{rule.name} is required.", parameter=rule.name)
    return checked
