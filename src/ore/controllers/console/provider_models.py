"""Models of the workspace's providers: the model list, per-model credentials, switches,
load balancing, parameter rules and the default models (console spec section 7).

This router is included before :mod:`.model_providers`, whose ``{provider:path}`` routes
would otherwise take ``openai/models`` for a provider id.
"""

from __future__ import annotations

import uuid
from typing import Any, Literal

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field

from ore.controllers.console import provider_fields
from ore.controllers.console.model_providers import (
    PROVIDER_PATH,
    SUCCESS,
    ProviderDep,
    read_model_type,
)
from ore.controllers.deps import AdminWorkspace, ContextDep, CurrentWorkspace, SessionDep
from ore.services import model_providers, provider_models
from ore.services.model_providers import Owner
from ore.services.provider_models import BalancingEntry, DefaultModelSetting

router = APIRouter(tags=["model-providers"])

MODELS_PATH = PROVIDER_PATH + "/models"
MODEL_CREDENTIALS_PATH = MODELS_PATH + "/credentials"


class ModelRef(BaseModel):
    model: str = Field(min_length=1, max_length=255)
    model_type: str


class ModelCredentialCreate(ModelRef):
    credentials: dict[str, Any]
    name: str | None = None


class ModelCredentialUpdate(ModelCredentialCreate):
    credential_id: uuid.UUID


class ModelCredentialRef(ModelRef):
    credential_id: uuid.UUID


class ModelCredentialsCheck(ModelRef):
    credentials: dict[str, Any]


class LoadBalancingEntryIn(BaseModel):
    name: str = Field(min_length=1, max_length=255)
    enabled: bool = True
    credential_id: uuid.UUID | None = None
    credentials: dict[str, Any] | None = None


class LoadBalancingIn(BaseModel):
    enabled: bool = False
    configs: list[LoadBalancingEntryIn] = Field(default_factory=list, max_length=50)


class ModelSave(ModelRef):
    """Dify 1.13's body, and up to 1.7's (which carried ``credentials``)."""

    credentials: dict[str, Any] | None = None
    credential_id: uuid.UUID | None = None
    load_balancing: LoadBalancingIn | None = None
    config_from: Literal["predefined-model", "custom-model", "customizable-model"] | None = None


class DefaultModelIn(BaseModel):
    model_type: str
    provider: str | None = None
    model: str | None = None


class DefaultModelsIn(BaseModel):
    model_settings: list[DefaultModelIn] = Field(max_length=20)


def model_owner(scope_tenant: uuid.UUID, provider: str, ref: ModelRef) -> Owner:
    return Owner(scope_tenant, provider, ref.model, model_providers.model_type_of(ref.model_type))


def _balancing(payload: LoadBalancingIn) -> tuple[bool, list[BalancingEntry]]:
    entries = [
        BalancingEntry(c.name, c.enabled, c.credential_id, c.credentials) for c in payload.configs
    ]
    return payload.enabled, entries


@router.get(MODEL_CREDENTIALS_PATH)
async def get_model_credentials(
    session: SessionDep,
    context: ContextDep,
    scope: CurrentWorkspace,
    provider: ProviderDep,
    model: str,
    model_type: str,
    credential_id: uuid.UUID | None = None,
    config_from: str | None = None,
) -> dict[str, Any]:
    owner = model_owner(scope.tenant.id, provider, ModelRef(model=model, model_type=model_type))
    view = await provider_models.model_credentials(
        session, context.models, context.settings.SECRET_KEY, owner, credential_id
    )
    current = view.current
    return {
        "credentials": view.masked,
        "current_credential_id": str(current.id) if current else None,
        "current_credential_name": current.name if current else None,
        "load_balancing": provider_fields.load_balancing(view.balancing),
        "available_credentials": [
            {"credential_id": str(r.id), "credential_name": r.name} for r in view.available
        ],
    }


@router.post(MODEL_CREDENTIALS_PATH + "/validate")
async def validate_model_credentials(
    payload: ModelCredentialsCheck,
    context: ContextDep,
    scope: CurrentWorkspace,
    provider: ProviderDep,
) -> dict[str, Any]:
    model_owner(scope.tenant.id, provider, payload)  # 400 for an unknown model type
    error = await model_providers.credentials_error(context.models, provider, payload.credentials)
    return SUCCESS if error is None else {"result": "error", "error": error}


@router.post(MODEL_CREDENTIALS_PATH + "/switch")
async def switch_model_credential(
    payload: ModelCredentialRef, session: SessionDep, scope: AdminWorkspace, provider: ProviderDep
) -> dict[str, Any]:
    owner = model_owner(scope.tenant.id, provider, payload)
    await model_providers.switch_credential(session, owner, payload.credential_id)
    return SUCCESS


@router.post(MODEL_CREDENTIALS_PATH, status_code=201)
async def create_model_credential(
    payload: ModelCredentialCreate,
    session: SessionDep,
    context: ContextDep,
    scope: AdminWorkspace,
    provider: ProviderDep,
) -> dict[str, Any]:
    await provider_models.create_model_credential(
        session,
        context.models,
        context.settings.SECRET_KEY,
        model_owner(scope.tenant.id, provider, payload),
        payload.credentials,
        payload.name,
    )
    return SUCCESS


@router.put(MODEL_CREDENTIALS_PATH)
async def update_model_credential(
    payload: ModelCredentialUpdate,
    session: SessionDep,
    context: ContextDep,
    scope: AdminWorkspace,
    provider: ProviderDep,
) -> dict[str, Any]:
    await model_providers.update_credential(
        session,
        context.models,
        context.settings.SECRET_KEY,
        model_owner(scope.tenant.id, provider, payload),
        payload.credential_id,
        payload.credentials,
        payload.name,
    )
    return SUCCESS


@router.delete(MODEL_CREDENTIALS_PATH, status_code=204)
async def delete_model_credential(
    payload: ModelCredentialRef, session: SessionDep, scope: AdminWorkspace, provider: ProviderDep
) -> Response:
    owner = model_owner(scope.tenant.id, provider, payload)
    await model_providers.delete_credential(session, owner, payload.credential_id)
    return Response(status_code=204)


@router.patch(MODELS_PATH + "/enable")
async def enable_model(
    payload: ModelRef,
    session: SessionDep,
    context: ContextDep,
    scope: AdminWorkspace,
    provider: ProviderDep,
) -> dict[str, Any]:
    owner = model_owner(scope.tenant.id, provider, payload)
    await provider_models.set_model_enabled(session, context.models, owner, True)
    return SUCCESS


@router.patch(MODELS_PATH + "/disable")
async def disable_model(
    payload: ModelRef,
    session: SessionDep,
    context: ContextDep,
    scope: AdminWorkspace,
    provider: ProviderDep,
) -> dict[str, Any]:
    owner = model_owner(scope.tenant.id, provider, payload)
    await provider_models.set_model_enabled(session, context.models, owner, False)
    return SUCCESS


@router.get(MODELS_PATH + "/parameter-rules")
async def get_parameter_rules(
    context: ContextDep, scope: CurrentWorkspace, provider: ProviderDep, model: str
) -> dict[str, Any]:
    rules = context.models.adapter(provider).parameter_rules(model)
    return {"data": [provider_fields.parameter_rule(rule) for rule in rules]}


@router.get(MODELS_PATH)
async def list_provider_models(
    session: SessionDep, context: ContextDep, scope: CurrentWorkspace, provider: ProviderDep
) -> dict[str, Any]:
    [state] = await provider_models.provider_states(
        session, context.models, scope.tenant.id, only=provider
    )
    summary = provider_fields.provider_summary(
        context.settings.CONSOLE_API_URL, scope.tenant.id, state.adapter.descriptor
    )
    return {
        "data": [
            {**provider_fields.model_response(found), "provider": summary}
            for found in provider_models.provider_models(state)
        ]
    }


@router.post(MODELS_PATH)
async def save_model(
    payload: ModelSave,
    session: SessionDep,
    context: ContextDep,
    scope: AdminWorkspace,
    provider: ProviderDep,
) -> dict[str, Any]:
    await provider_models.configure_model(
        session,
        context.models,
        context.settings.SECRET_KEY,
        model_owner(scope.tenant.id, provider, payload),
        credentials=payload.credentials,
        credential_id=payload.credential_id,
        load_balancing=_balancing(payload.load_balancing) if payload.load_balancing else None,
    )
    return SUCCESS


@router.delete(MODELS_PATH, status_code=204)
async def delete_model(
    payload: ModelRef, session: SessionDep, scope: AdminWorkspace, provider: ProviderDep
) -> Response:
    owner = model_owner(scope.tenant.id, provider, payload)
    await model_providers.remove_configuration(session, owner)
    return Response(status_code=204)


@router.get("/workspaces/current/models/model-types/{model_type}")
async def list_models_of_type(
    model_type: str, session: SessionDep, context: ContextDep, scope: CurrentWorkspace
) -> dict[str, Any]:
    kind = read_model_type(model_type)
    if kind is None:
        return {"data": []}
    grouped = await provider_models.available_by_provider(
        session, context.models, scope.tenant.id, kind
    )
    url = context.settings.CONSOLE_API_URL
    data = []
    for provider, models in grouped.items():
        summary = provider_fields.provider_summary(
            url, scope.tenant.id, context.models.adapter(provider).descriptor
        )
        del summary["supported_model_types"], summary["models"]
        data.append(
            {
                **summary,
                "status": "active",
                "models": [provider_fields.model_response(m) for m in models],
            }
        )
    return {"data": data}


@router.get("/workspaces/current/default-model")
async def get_default_model(
    session: SessionDep, context: ContextDep, scope: CurrentWorkspace, model_type: str
) -> dict[str, Any]:
    kind = read_model_type(model_type)
    row = (
        await provider_models.default_model(session, context.models, scope.tenant.id, kind)
        if kind
        else None
    )
    if row is None:
        return {"data": None}
    summary = provider_fields.provider_summary(
        context.settings.CONSOLE_API_URL,
        scope.tenant.id,
        context.models.adapter(row.provider).descriptor,
    )
    return {"data": {"model": row.model, "model_type": row.model_type, "provider": summary}}


@router.post("/workspaces/current/default-model")
async def set_default_models(
    payload: DefaultModelsIn, session: SessionDep, context: ContextDep, scope: AdminWorkspace
) -> dict[str, Any]:
    settings = [
        DefaultModelSetting(
            model_providers.model_type_of(entry.model_type),
            model_providers.provider_id(entry.provider) if entry.provider else None,
            entry.model,
        )
        for entry in payload.model_settings
    ]
    await provider_models.set_default_models(
        session, context.models, context.settings.SECRET_KEY, scope.tenant.id, settings
    )
    return SUCCESS
