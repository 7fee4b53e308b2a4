"""A workspace's view of its providers and models: what the console lists and switches.

The credential rules live in :mod:`ore.services.model_providers`; this module reads them
back as the console shows them (configured or not, each model's status), and keeps the
per-model settings: enabled or disabled, load balancing, and the default model per type
(console spec section 7).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from ore.core.errors import InvalidParam
from ore.core.model_runtime import ModelAdapter
from ore.core.model_runtime.catalogue import ModelDescriptor, ModelType
from ore.extensions.model_runtime import ModelRuntime
from ore.models.provider import (
    DefaultModel,
    LoadBalancingConfig,
    ProviderConfig,
    ProviderCredential,
)
from ore.services.model_providers import (
    Owner,
    available_models,
    balancing_of,
    bind_model,
    check_model,
    config_of,
    create_credential,
    credential_by_id,
    credentials_of,
    ensure_config,
    masked_credential,
    model_type_of,
    needs_no_credentials,
    pool_key,
    save_credentials,
    switch_credential,
)

ModelStatus = Literal["active", "no-configure", "disabled"]
INHERIT = "__inherit__"  # Dify's load-balancing entry that uses the provider's credential


@dataclass
class ProviderState:
    """One provider as a workspace has configured it (rows loaded once per request)."""

    adapter: ModelAdapter
    config: ProviderConfig | None = None
    credentials: list[ProviderCredential] = field(default_factory=list)
    model_configs: list[ProviderConfig] = field(default_factory=list)
    model_credentials: list[ProviderCredential] = field(default_factory=list)

    @property
    def provider(self) -> str:
        return self.adapter.provider

    @property
    def configured(self) -> bool:
        """Usable without per-model credentials: a current credential, or none needed."""
        if self.config is None:
            return False
        return self.config.current_credential_id is not None or needs_no_credentials(self.adapter)

    def credential_name(self, credential_id: uuid.UUID | None) -> str | None:
        for row in [*self.credentials, *self.model_credentials]:
            if row.id == credential_id:
                return row.name
        return None

    def credentials_of_model(self, config: ProviderConfig) -> list[ProviderCredential]:
        return [
            row
            for row in self.model_credentials
            if row.model_name == config.model_name and row.model_type == config.model_type
        ]


async def provider_states(
    session: AsyncSession,
    runtime: ModelRuntime,
    tenant_id: uuid.UUID,
    only: str | None = None,
) -> list[ProviderState]:
    """Every registered provider (or ``only`` that one) with this workspace's rows."""
    adapters = (
        [runtime.adapter(only)] if only else [runtime.adapter(p) for p in runtime.registry.ids()]
    )
    states = {adapter.provider: ProviderState(adapter) for adapter in adapters}
    configs = select(ProviderConfig).where(ProviderConfig.tenant_id == tenant_id)
    credentials = select(ProviderCredential).where(ProviderCredential.tenant_id == tenant_id)
    if only:
        configs = configs.where(ProviderConfig.provider == only)
        credentials = credentials.where(ProviderCredential.provider == only)
    for config in (await session.execute(configs.order_by(ProviderConfig.created_at))).scalars():
        state = states.get(config.provider)
        if state is None:
            continue
        if config.model_name is None:
            state.config = config
        else:
            state.model_configs.append(config)
    ordered = credentials.order_by(ProviderCredential.created_at, ProviderCredential.id)
    for row in (await session.execute(ordered)).scalars():
        state = states.get(row.provider)
        if state is not None:
            (state.credentials if row.model_name is None else state.model_credentials).append(row)
    return list(states.values())


@dataclass(frozen=True)
class ProviderModel:
    """One model as the console lists it under its provider."""

    model: str
    model_type: ModelType
    descriptor: ModelDescriptor | None
    fetch_from: Literal["predefined-model", "customizable-model"]
    status: ModelStatus
    load_balancing_enabled: bool


def _status(state: ProviderState, config: ProviderConfig | None) -> ModelStatus:
    if config is not None and not config.enabled:
        return "disabled"
    if config is not None and config.current_credential_id is not None:
        return "active"
    return "active" if state.configured else "no-configure"


def provider_models(
    state: ProviderState, model_type: ModelType | None = None
) -> list[ProviderModel]:
    """The catalogue's models, then the models the workspace added, each with its status."""
    settings = {(c.model_name, c.model_type): c for c in state.model_configs}
    found: list[ProviderModel] = []
    for descriptor in state.adapter.descriptor.models:
        config = settings.pop((descriptor.model, descriptor.model_type), None)
        found.append(
            ProviderModel(
                descriptor.model,
                descriptor.model_type,
                descriptor,
                "predefined-model",
                _status(state, config),
                bool(config and config.load_balancing_enabled),
            )
        )
    for (name, kind), config in settings.items():
        if name is None or kind is None:
            continue
        found.append(
            ProviderModel(
                name,
                model_type_of(kind),
                None,
                "customizable-model",
                _status(state, config),
                config.load_balancing_enabled,
            )
        )
    return [m for m in found if model_type is None or m.model_type == model_type]


async def available_by_provider(
    session: AsyncSession, runtime: ModelRuntime, tenant_id: uuid.UUID, model_type: ModelType
) -> dict[str, list[ProviderModel]]:
    """Callable, non-deprecated models of one type, grouped by provider."""
    grouped: dict[str, list[ProviderModel]] = {}
    for found in await available_models(session, runtime, tenant_id, model_type):
        if found.descriptor is not None and found.descriptor.deprecated:
            continue
        fetch_from: Literal["predefined-model", "customizable-model"] = (
            "predefined-model" if found.descriptor is not None else "customizable-model"
        )
        grouped.setdefault(found.provider, []).append(
            ProviderModel(
                found.model, found.model_type, found.descriptor, fetch_from, "active", False
            )
        )
    return grouped


# --- per-model settings -------------------------------------------------------------------


async def set_model_enabled(
    session: AsyncSession, runtime: ModelRuntime, owner: Owner, enabled: bool
) -> None:
    """Dify's enable/disable switch; a disabled model refuses calls (``bind_model``)."""
    assert owner.model is not None and owner.model_type is not None
    check_model(runtime.adapter(owner.provider), owner.model, owner.model_type)
    config = await ensure_config(
        session, owner.tenant_id, owner.provider, owner.model, owner.model_type
    )
    config.enabled = enabled


@dataclass(frozen=True)
class BalancingEntry:
    """One load-balancing entry as the console sends it."""

    name: str
    enabled: bool = True
    credential_id: uuid.UUID | None = None
    credentials: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class BalancingView:
    """A model's load balancing as the console shows it, with each entry's cooldown."""

    enabled: bool
    entries: list[tuple[LoadBalancingConfig, bool]]


async def _entry_credential(
    session: AsyncSession,
    runtime: ModelRuntime,
    secret_key: str,
    owner: Owner,
    entry: BalancingEntry,
) -> uuid.UUID | None:
    """The credential an entry points at: the provider's (``__inherit__``), one already
    stored for the provider or this model, or a new credential of the model."""
    if entry.name == INHERIT:
        return None
    if entry.credential_id is not None:
        row = await credential_by_id(session, owner.tenant_id, owner.provider, entry.credential_id)
        if row.model_name not in (None, owner.model) or row.model_type not in (
            None,
            owner.model_type,
        ):
            raise InvalidParam("A load balancing credential belongs to another model.")
        return row.id
    if entry.credentials is None:
        raise InvalidParam(
            f"Load balancing config {entry.name!r} needs credential_id or credentials."
        )
    created = await create_credential(
        session, runtime, secret_key, owner, entry.credentials, name=entry.name
    )
    return created.id


async def set_load_balancing(
    session: AsyncSession,
    runtime: ModelRuntime,
    secret_key: str,
    owner: Owner,
    enabled: bool,
    entries: list[BalancingEntry],
) -> None:
    """Replace a model's load-balancing entries and switch it on or off."""
    assert owner.model is not None and owner.model_type is not None
    config = await ensure_config(
        session, owner.tenant_id, owner.provider, owner.model, owner.model_type
    )
    config.load_balancing_enabled = enabled
    await session.execute(delete(LoadBalancingConfig).where(*balancing_of(owner)))
    for entry in entries:
        credential_id = await _entry_credential(session, runtime, secret_key, owner, entry)
        session.add(
            LoadBalancingConfig(
                tenant_id=owner.tenant_id,
                provider=owner.provider,
                model_name=owner.model,
                model_type=owner.model_type,
                name=entry.name,
                credential_id=credential_id,
                enabled=entry.enabled,
            )
        )
    await session.flush()


async def load_balancing_of(
    session: AsyncSession, runtime: ModelRuntime, owner: Owner, config: ProviderConfig | None
) -> BalancingView:
    assert owner.model is not None and owner.model_type is not None
    query = (
        select(LoadBalancingConfig)
        .where(*balancing_of(owner))
        .order_by(LoadBalancingConfig.created_at)
    )
    pool = runtime.pool(
        pool_key(owner.tenant_id, owner.provider, owner.model, owner.model_type), []
    )
    entries = []
    for row in (await session.execute(query)).scalars():
        cooling = row.credential_id is not None and await pool.is_cooling(str(row.credential_id))
        entries.append((row, cooling))
    return BalancingView(bool(config and config.load_balancing_enabled), entries)


@dataclass(frozen=True)
class ModelCredentials:
    """What the console's model credential dialog shows; secrets already masked."""

    masked: dict[str, Any] | None
    current: ProviderCredential | None
    available: list[ProviderCredential]
    balancing: BalancingView


async def model_credentials(
    session: AsyncSession,
    runtime: ModelRuntime,
    secret_key: str,
    owner: Owner,
    credential_id: uuid.UUID | None = None,
) -> ModelCredentials:
    """A model's credential (the current one unless ``credential_id``), its other
    credentials and its load balancing."""
    assert owner.model is not None and owner.model_type is not None
    check_model(runtime.adapter(owner.provider), owner.model, owner.model_type)
    found = await masked_credential(session, runtime, secret_key, owner, credential_id)
    config = await config_of(
        session, owner.tenant_id, owner.provider, owner.model, owner.model_type
    )
    rows = await credentials_of(
        session, owner.tenant_id, owner.provider, owner.model, owner.model_type
    )
    current = next((r for r in rows if config and r.id == config.current_credential_id), None)
    balancing = await load_balancing_of(session, runtime, owner, config)
    return ModelCredentials(found[1] if found else None, current, rows, balancing)


async def create_model_credential(
    session: AsyncSession,
    runtime: ModelRuntime,
    secret_key: str,
    owner: Owner,
    credentials: Mapping[str, Any],
    name: str | None = None,
) -> ProviderCredential:
    """A new credential of a model the provider lists or lets the workspace add."""
    assert owner.model is not None and owner.model_type is not None
    check_model(runtime.adapter(owner.provider), owner.model, owner.model_type)
    return await create_credential(session, runtime, secret_key, owner, credentials, name)


async def configure_model(
    session: AsyncSession,
    runtime: ModelRuntime,
    secret_key: str,
    owner: Owner,
    *,
    credentials: Mapping[str, Any] | None = None,
    credential_id: uuid.UUID | None = None,
    load_balancing: tuple[bool, list[BalancingEntry]] | None = None,
) -> None:
    """Add a model to the workspace's list (POST models): with new credentials (Dify up to
    1.7), with one of its stored credentials (1.8 and later), and/or with load balancing."""
    assert owner.model is not None and owner.model_type is not None
    check_model(runtime.adapter(owner.provider), owner.model, owner.model_type)
    if credentials is not None:
        await save_credentials(session, runtime, secret_key, owner, credentials)
    if credential_id is not None:
        await switch_credential(session, owner, credential_id)
    await ensure_config(session, owner.tenant_id, owner.provider, owner.model, owner.model_type)
    if load_balancing is not None:
        enabled, entries = load_balancing
        await set_load_balancing(session, runtime, secret_key, owner, enabled, entries)


# --- default models -----------------------------------------------------------------------


async def default_model(
    session: AsyncSession, runtime: ModelRuntime, tenant_id: uuid.UUID, model_type: ModelType
) -> DefaultModel | None:
    """The default model of a type; None when unset or its provider is gone (as Dify)."""
    row = await session.scalar(
        select(DefaultModel).where(
            DefaultModel.tenant_id == tenant_id, DefaultModel.model_type == model_type
        )
    )
    if row is None or row.provider not in runtime.registry:
        return None
    return row


@dataclass(frozen=True)
class DefaultModelSetting:
    model_type: ModelType
    provider: str | None
    model: str | None


async def set_default_models(
    session: AsyncSession,
    runtime: ModelRuntime,
    secret_key: str,
    tenant_id: uuid.UUID,
    settings: list[DefaultModelSetting],
) -> None:
    """Set the defaults; an entry without a provider is skipped (as Dify). Each model must be
    callable now: known to its provider, enabled and with a credential."""
    for setting in settings:
        if setting.provider is None:
            continue
        if not setting.model:
            raise InvalidParam(f"model is required for the default {setting.model_type} model.")
        await bind_model(
            session,
            runtime,
            secret_key,
            tenant_id,
            setting.provider,
            setting.model,
            setting.model_type,
        )
        row = await session.scalar(
            select(DefaultModel).where(
                DefaultModel.tenant_id == tenant_id, DefaultModel.model_type == setting.model_type
            )
        )
        if row is None:
            row = DefaultModel(tenant_id=tenant_id, model_type=setting.model_type)
            session.add(row)
        row.provider = setting.provider
        row.model = setting.model
    await session.flush()
