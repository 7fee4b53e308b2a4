"""Model providers of the current workspace and their credentials (console spec section 7).

Both credential APIs are served: Dify 1.8's named credentials (``…/credentials`` with
``credential_id`` and ``switch``) and the single credential of Dify up to 1.7
(``POST|DELETE /model-providers/{provider}``). Provider paths accept plugin-era ids such as
``langgenius/openai/openai``. Reads and ``validate`` need any member; writes need admin or
owner. Routes whose path ends in ``{provider:path}`` are registered after the longer ones,
because a path parameter would swallow their suffix.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel

from ore.controllers.console import provider_fields
from ore.controllers.deps import AdminWorkspace, ContextDep, CurrentWorkspace, SessionDep
from ore.core.errors import NotFound
from ore.core.model_runtime.catalogue import ModelType
from ore.services import model_providers, provider_models
from ore.services.model_providers import Owner

router = APIRouter(tags=["model-providers"])

PROVIDERS_PATH = "/workspaces/current/model-providers"
PROVIDER_PATH = PROVIDERS_PATH + "/{provider:path}"
CREDENTIALS_PATH = PROVIDER_PATH + "/credentials"
# Model types Dify has and ore serves no model of: lists of them are empty, not an error.
DIFY_ONLY_MODEL_TYPES = frozenset({"speech2text", "moderation", "tts"})


def read_model_type(value: str) -> ModelType | None:
    """A model type from a query or path; None for a Dify type ore has no models of."""
    if value in DIFY_ONLY_MODEL_TYPES:
        return None
    return model_providers.model_type_of(value)


def known_provider(provider: str, context: ContextDep) -> str:
    """The short id of the path's provider; 400 when no such provider is registered."""
    short = model_providers.provider_id(provider)
    context.models.adapter(short)
    return short


ProviderDep = Annotated[str, Depends(known_provider)]


class ProviderCredentialCreate(BaseModel):
    credentials: dict[str, Any]
    name: str | None = None


class ProviderCredentialUpdate(ProviderCredentialCreate):
    credential_id: uuid.UUID


class CredentialRef(BaseModel):
    credential_id: uuid.UUID


class CredentialsCheck(BaseModel):
    credentials: dict[str, Any]


class PreferredProviderType(BaseModel):
    preferred_provider_type: Literal["system", "custom"]


SUCCESS = {"result": "success"}


@router.get(PROVIDERS_PATH)
async def list_model_providers(
    session: SessionDep,
    context: ContextDep,
    scope: CurrentWorkspace,
    model_type: str | None = None,
) -> dict[str, Any]:
    kind = read_model_type(model_type) if model_type else None
    if model_type and kind is None:
        return {"data": []}
    states = await provider_models.provider_states(session, context.models, scope.tenant.id)
    url = context.settings.CONSOLE_API_URL
    return {
        "data": [
            provider_fields.provider_response(url, scope.tenant.id, state)
            for state in states
            if kind is None or kind in state.adapter.descriptor.supported_model_types
        ]
    }


@router.get(CREDENTIALS_PATH)
async def get_provider_credentials(
    session: SessionDep,
    context: ContextDep,
    scope: CurrentWorkspace,
    provider: ProviderDep,
    credential_id: uuid.UUID | None = None,
) -> dict[str, Any]:
    found = await model_providers.masked_credential(
        session,
        context.models,
        context.settings.SECRET_KEY,
        Owner(scope.tenant.id, provider),
        credential_id,
    )
    return {"credentials": found[1] if found else None}


@router.post(CREDENTIALS_PATH + "/validate")
async def validate_provider_credentials(
    payload: CredentialsCheck, context: ContextDep, scope: CurrentWorkspace, provider: ProviderDep
) -> dict[str, Any]:
    error = await model_providers.credentials_error(context.models, provider, payload.credentials)
    return SUCCESS if error is None else {"result": "error", "error": error}


@router.post(CREDENTIALS_PATH + "/switch")
async def switch_provider_credential(
    payload: CredentialRef, session: SessionDep, scope: AdminWorkspace, provider: ProviderDep
) -> dict[str, Any]:
    await model_providers.switch_credential(
        session, Owner(scope.tenant.id, provider), payload.credential_id
    )
    return SUCCESS


@router.post(CREDENTIALS_PATH, status_code=201)
async def create_provider_credential(
    payload: ProviderCredentialCreate,
    session: SessionDep,
    context: ContextDep,
    scope: AdminWorkspace,
    provider: ProviderDep,
) -> dict[str, Any]:
    await model_providers.create_credential(
        session,
        context.models,
        context.settings.SECRET_KEY,
        Owner(scope.tenant.id, provider),
        payload.credentials,
        payload.name,
    )
    return SUCCESS


@router.put(CREDENTIALS_PATH)
async def update_provider_credential(
    payload: ProviderCredentialUpdate,
    session: SessionDep,
    context: ContextDep,
    scope: AdminWorkspace,
    provider: ProviderDep,
) -> dict[str, Any]:
    await model_providers.update_credential(
        session,
        context.models,
        context.settings.SECRET_KEY,
        Owner(scope.tenant.id, provider),
        payload.credential_id,
        payload.credentials,
        payload.name,
    )
    return SUCCESS


@router.delete(CREDENTIALS_PATH, status_code=204)
async def delete_provider_credential(
    payload: CredentialRef, session: SessionDep, scope: AdminWorkspace, provider: ProviderDep
) -> Response:
    await model_providers.delete_credential(
        session, Owner(scope.tenant.id, provider), payload.credential_id
    )
    return Response(status_code=204)


@router.post(PROVIDER_PATH + "/preferred-provider-type")
async def set_preferred_provider_type(
    payload: PreferredProviderType,
    session: SessionDep,
    scope: AdminWorkspace,
    provider: ProviderDep,
) -> dict[str, Any]:
    await model_providers.set_preferred_provider_type(
        session, scope.tenant.id, provider, payload.preferred_provider_type
    )
    return SUCCESS


@router.post(PROVIDER_PATH, status_code=201)
async def save_provider_credentials(
    payload: CredentialsCheck,
    session: SessionDep,
    context: ContextDep,
    scope: AdminWorkspace,
    provider: ProviderDep,
) -> dict[str, Any]:
    """Dify up to 1.7: the provider's one credential, created or replaced."""
    await model_providers.save_credentials(
        session,
        context.models,
        context.settings.SECRET_KEY,
        Owner(scope.tenant.id, provider),
        payload.credentials,
    )
    return SUCCESS


@router.delete(PROVIDER_PATH, status_code=204)
async def remove_provider(
    session: SessionDep, scope: AdminWorkspace, provider: ProviderDep
) -> Response:
    """Dify up to 1.7: forget the provider's credentials."""
    await model_providers.remove_configuration(session, Owner(scope.tenant.id, provider))
    return Response(status_code=204)


@router.get("/workspaces/{tenant_id:uuid}/model-providers/{provider:path}/{icon}/{lang}")
async def get_provider_icon(tenant_id: uuid.UUID, provider: str, icon: str, lang: str) -> None:
    """ore ships no provider icons; the console falls back to the provider's label."""
    raise NotFound("Provider icon not found.")
