"""Dify's JSON shapes for providers and models (console spec section 7).

Only shapes live here; what is configured, and how, comes from
:mod:`ore.services.provider_models`. Secrets never reach this module in clear: the
services hand over credentials already masked.
"""

from __future__ import annotations

import uuid
from typing import Any

from ore.controllers.console.fields import optional_id
from ore.core.model_runtime.catalogue import FormField, I18n, ParameterRule, ProviderDescriptor
from ore.models.provider import ProviderConfig, ProviderCredential
from ore.services.provider_models import BalancingView, ProviderModel, ProviderState

ICON_LANGUAGES = ("en_US", "zh_Hans")
# Parameters whose label and help Dify takes from a shared template.
TEMPLATES = frozenset(
    {
        "temperature",
        "top_p",
        "presence_penalty",
        "frequency_penalty",
        "max_tokens",
        "response_format",
    }
)


def i18n(value: I18n | None) -> dict[str, str] | None:
    """Dify's I18nObject: ``zh_Hans`` falls back to the English text."""
    if value is None:
        return None
    return {"en_US": value.en_US, "zh_Hans": value.zh_Hans or value.en_US}


def _text(value: str) -> dict[str, str]:
    return {"en_US": value, "zh_Hans": value}


def icon_urls(
    console_api_url: str, tenant_id: uuid.UUID, provider: str, icon: str
) -> dict[str, str]:
    base = f"{console_api_url.rstrip('/')}/console/api/workspaces/{tenant_id}/model-providers"
    return {lang: f"{base}/{provider}/{icon}/{lang}" for lang in ICON_LANGUAGES}


def provider_summary(
    console_api_url: str, tenant_id: uuid.UUID, descriptor: ProviderDescriptor
) -> dict[str, Any]:
    """The short provider object nested in models and default models."""
    return {
        "tenant_id": str(tenant_id),
        "provider": descriptor.provider,
        "label": i18n(descriptor.label),
        "icon_small": icon_urls(console_api_url, tenant_id, descriptor.provider, "icon_small"),
        "icon_small_dark": icon_urls(
            console_api_url, tenant_id, descriptor.provider, "icon_small_dark"
        ),
        "supported_model_types": list(descriptor.supported_model_types),
        "models": [],
    }


def form_field(field: FormField) -> dict[str, Any]:
    return {
        "variable": field.variable,
        "label": i18n(field.label),
        "type": field.type,
        "required": field.required,
        "default": field.default,
        "options": [
            {
                "label": i18n(option.label),
                "value": option.value,
                "show_on": [s.model_dump() for s in option.show_on],
            }
            for option in field.options
        ],
        "placeholder": i18n(field.placeholder),
        "max_length": field.max_length,
        "show_on": [s.model_dump() for s in field.show_on],
    }


def _model_credential_schema(descriptor: ProviderDescriptor) -> dict[str, Any] | None:
    if "customizable-model" not in descriptor.configurate_methods:
        return None
    fields = descriptor.model_credential_schemas or descriptor.credential_form_schemas
    return {
        "model": {
            "label": _text("Model Name"),
            "placeholder": _text("Enter your model name"),
        },
        "credential_form_schemas": [form_field(f) for f in fields],
    }


def _credential_refs(rows: list[ProviderCredential]) -> list[dict[str, Any]]:
    return [{"credential_id": str(row.id), "credential_name": row.name} for row in rows]


def _custom_model(state: ProviderState, config: ProviderConfig) -> dict[str, Any]:
    return {
        "model": config.model_name,
        "model_type": config.model_type,
        "credentials": None,  # the console reads them through models/credentials
        "current_credential_id": optional_id(config.current_credential_id),
        "current_credential_name": state.credential_name(config.current_credential_id),
        "available_model_credentials": _credential_refs(state.credentials_of_model(config)),
        "unadded_to_model_list": False,
    }


def custom_configuration(state: ProviderState) -> dict[str, Any]:
    current = state.config.current_credential_id if state.config else None
    return {
        "status": "active" if state.configured else "no-configure",
        "current_credential_id": optional_id(current),
        "current_credential_name": state.credential_name(current),
        "available_credentials": _credential_refs(state.credentials),
        "custom_models": [
            _custom_model(state, c) for c in state.model_configs if state.credentials_of_model(c)
        ],
        "can_added_models": [],
    }


def provider_response(
    console_api_url: str, tenant_id: uuid.UUID, state: ProviderState
) -> dict[str, Any]:
    """The full provider object of ``GET /workspaces/current/model-providers``."""
    descriptor = state.adapter.descriptor
    summary = provider_summary(console_api_url, tenant_id, descriptor)
    del summary["models"]
    return {
        **summary,
        "description": i18n(descriptor.description),
        "background": None,
        "help": {"title": _text("Get your API key"), "url": _text(descriptor.help_url)}
        if descriptor.help_url
        else None,
        "configurate_methods": list(descriptor.configurate_methods),
        "provider_credential_schema": {
            "credential_form_schemas": [form_field(f) for f in descriptor.credential_form_schemas]
        },
        "model_credential_schema": _model_credential_schema(descriptor),
        "preferred_provider_type": state.config.preferred_provider_type
        if state.config
        else "custom",
        "custom_configuration": custom_configuration(state),
        "system_configuration": {
            "enabled": False,
            "current_quota_type": None,
            "quota_configurations": [],
        },
    }


def model_response(found: ProviderModel) -> dict[str, Any]:
    """A model without its provider (the shape of ``models/model-types/{type}``)."""
    descriptor = found.descriptor
    return {
        "model": found.model,
        "label": i18n(descriptor.label) if descriptor and descriptor.label else _text(found.model),
        "model_type": found.model_type,
        "features": list(descriptor.features) if descriptor else [],
        "fetch_from": found.fetch_from,
        "model_properties": descriptor.model_properties() if descriptor else {},
        "deprecated": bool(descriptor and descriptor.deprecated),
        "status": found.status,
        "load_balancing_enabled": found.load_balancing_enabled,
        "has_invalid_load_balancing_configs": False,
    }


def parameter_rule(rule: ParameterRule) -> dict[str, Any]:
    return {
        "name": rule.name,
        "use_template": rule.name if rule.name in TEMPLATES else None,
        "label": i18n(rule.label) or _text(rule.name.replace("_", " ").title()),
        "type": rule.type,
        "help": i18n(rule.help),
        "required": rule.required,
        "default": rule.default,
        "min": rule.min,
        "max": rule.max,
        "precision": rule.precision,
        "options": list(rule.options),
    }


def load_balancing(view: BalancingView) -> dict[str, Any]:
    """Dify's ``load_balancing`` object; entries point at credentials, so none is shown."""
    return {
        "enabled": view.enabled,
        "configs": [
            {
                "id": str(row.id),
                "name": row.name,
                "credentials": {},
                "credential_id": optional_id(row.credential_id),
                "enabled": row.enabled,
                "in_cooldown": cooling,
                "ttl": 0,
            }
            for row, cooling in view.entries
        ],
    }
