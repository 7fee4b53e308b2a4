"""A workspace's model providers: stored credentials, and turning them into a callable model.

This module is the core the console routes (spec §7), the gateway and the apps build on:

- credentials are validated by a real call, then sealed with the workspace's key
  (:mod:`ore.services.secrets`); a provider, or one model of it, has several named
  credentials and one current credential (:class:`~ore.models.provider.ProviderConfig`);
- :func:`bind_model` reads the configuration once, in the caller's unit of work, and returns
  a :class:`BoundModel` that holds everything a call needs, so a stream never keeps a
  database session open; :func:`bind_recent` reuses a binding for up to a second
  (:class:`BindingCache`), for the paths that bind on every call (generation, gateway);
- :func:`available_models` lists what a workspace can call.

A provider is configured when it (or the model) has a current credential. A provider
whose credential form is empty (``local``) needs no credential: it is configured as soon as
its provider-level :class:`~ore.models.provider.ProviderConfig` row exists, and is called
with ``{}``.
"""

from __future__ import annotations

import uuid
import weakref
from collections.abc import AsyncGenerator, Mapping
from dataclasses import dataclass
from typing import Any, get_args

import httpx
from sqlalchemy import ColumnElement, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ore.core.errors import InvalidParam, NotFound
from ore.core.model_runtime import (
    ChatChunk,
    ChatRequest,
    ChatResult,
    CredentialPool,
    EmbeddingRequest,
    EmbeddingResult,
    ModelAdapter,
    PooledCredential,
    RerankRequest,
    RerankResult,
)
from ore.core.model_runtime.catalogue import ModelDescriptor, ModelType
from ore.core.model_runtime.errors import (
    CredentialsInvalid,
    ModelNotFound,
    ModelRuntimeError,
    ProviderNotInitialized,
)
from ore.core.recent import RecentCache
from ore.extensions.model_runtime import ModelRuntime
from ore.models.provider import LoadBalancingConfig, ProviderConfig, ProviderCredential
from ore.services import secrets

MODEL_TYPES: tuple[ModelType, ...] = get_args(ModelType)
# Dify's legacy spellings, accepted on input (console spec §1, enumerations).
MODEL_TYPE_ALIASES: dict[str, ModelType] = {
    "text-generation": "llm",
    "embeddings": "text-embedding",
    "reranking": "rerank",
}
CREDENTIAL_NAME_MAX = 30


class CredentialNotFound(NotFound):
    code = "not_found"
    default_message = "Credential not found."


class ModelDisabled(InvalidParam):
    default_message = "This model is disabled in the workspace's model settings."


def model_type_of(value: str) -> ModelType:
    """A wire model type (or a legacy alias) as ore's; 400 ``invalid_param`` otherwise."""
    if value in MODEL_TYPE_ALIASES:
        return MODEL_TYPE_ALIASES[value]
    for known in MODEL_TYPES:
        if value == known:
            return known
    raise InvalidParam(f"Unknown model type {value!r}; expected one of {', '.join(MODEL_TYPES)}.")


def provider_id(value: str) -> str:
    """Dify's plugin-era ids (``langgenius/openai/openai``) as ore's short id (``openai``)."""
    return value.rsplit("/", 1)[-1] if value.count("/") == 2 else value


# --- stored credentials ------------------------------------------------------------------


async def config_of(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    provider: str,
    model: str | None = None,
    model_type: ModelType | None = None,
) -> ProviderConfig | None:
    """The provider-level (``model`` None) or per-model configuration row, if any."""
    query = select(ProviderConfig).where(
        ProviderConfig.tenant_id == tenant_id, ProviderConfig.provider == provider
    )
    if model is None:
        query = query.where(ProviderConfig.model_name.is_(None))
    else:
        query = query.where(
            ProviderConfig.model_name == model, ProviderConfig.model_type == model_type
        )
    return (await session.execute(query)).scalar_one_or_none()


async def ensure_config(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    provider: str,
    model: str | None = None,
    model_type: ModelType | None = None,
) -> ProviderConfig:
    found = await config_of(session, tenant_id, provider, model, model_type)
    if found is None:
        found = ProviderConfig(
            tenant_id=tenant_id, provider=provider, model_name=model, model_type=model_type
        )
        session.add(found)
        await session.flush()
    return found


async def credentials_of(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    provider: str,
    model: str | None = None,
    model_type: ModelType | None = None,
) -> list[ProviderCredential]:
    """The named credentials of a provider (``model`` None) or of one model, oldest first."""
    query = select(ProviderCredential).where(
        ProviderCredential.tenant_id == tenant_id, ProviderCredential.provider == provider
    )
    if model is None:
        query = query.where(ProviderCredential.model_name.is_(None))
    else:
        query = query.where(
            ProviderCredential.model_name == model, ProviderCredential.model_type == model_type
        )
    query = query.order_by(ProviderCredential.created_at, ProviderCredential.id)
    return list((await session.execute(query)).scalars())


async def credential_by_id(
    session: AsyncSession, tenant_id: uuid.UUID, provider: str, credential_id: uuid.UUID
) -> ProviderCredential:
    """One credential of this workspace and provider; 404 for anything else."""
    found = await session.get(ProviderCredential, credential_id)
    if found is None or found.tenant_id != tenant_id or found.provider != provider:
        raise CredentialNotFound()
    return found


def checked_name(
    name: str | None, existing: list[ProviderCredential], keep: uuid.UUID | None = None
) -> str | None:
    """A credential name, stripped, at most 30 characters and unique among ``existing``
    (``keep`` is the credential being renamed); None when no name was given."""
    name = (name or "").strip()
    if not name:
        return None
    if len(name) > CREDENTIAL_NAME_MAX:
        raise InvalidParam(f"Credential name must be at most {CREDENTIAL_NAME_MAX} characters.")
    if any(c.name == name and c.id != keep for c in existing):
        raise InvalidParam(f"A credential named {name!r} already exists.")
    return name


def _free_name(existing: list[ProviderCredential]) -> str:
    """Dify's default names, ``API KEY n``, with the first n not taken."""
    taken = {c.name for c in existing}
    number = len(existing) + 1
    while f"API KEY {number}" in taken:
        number += 1
    return f"API KEY {number}"


async def open_credential(
    session: AsyncSession, secret_key: str, credential: ProviderCredential
) -> dict[str, Any]:
    return await secrets.decrypt_credentials(
        session, secret_key, credential.tenant_id, credential.provider, credential.encrypted_config
    )


async def validate(
    runtime: ModelRuntime, provider: str, credentials: Mapping[str, Any]
) -> ModelAdapter:
    """A real call with ``credentials``; ``CredentialsInvalid`` (400) with the provider's
    message when they fail."""
    adapter = runtime.adapter(provider)
    try:
        await adapter.validate_credentials(credentials, http_client=runtime.http_client)
    except httpx.InvalidURL as error:
        # Raised while the SDK client is built, before the adapter maps errors.
        raise CredentialsInvalid(f"Invalid API base URL: {error}") from error
    return adapter


async def add_credential(
    session: AsyncSession,
    runtime: ModelRuntime,
    secret_key: str,
    tenant_id: uuid.UUID,
    provider: str,
    credentials: Mapping[str, Any],
    *,
    name: str | None = None,
    model: str | None = None,
    model_type: ModelType | None = None,
    check: bool = True,
) -> ProviderCredential:
    """Validate (unless ``check`` is false), seal and store a credential; the first one of
    a provider or model becomes its current credential."""
    if check:
        await validate(runtime, provider, credentials)
    else:
        runtime.adapter(provider)
    existing = await credentials_of(session, tenant_id, provider, model, model_type)
    name = checked_name(name, existing) or _free_name(existing)
    sealed = await secrets.encrypt_credentials(
        session, secret_key, tenant_id, provider, credentials
    )
    row = ProviderCredential(
        tenant_id=tenant_id,
        provider=provider,
        model_name=model,
        model_type=model_type,
        name=name,
        encrypted_config=sealed,
    )
    session.add(row)
    await session.flush()
    config = await ensure_config(session, tenant_id, provider, model, model_type)
    if config.current_credential_id is None:
        config.current_credential_id = row.id
    return row


# --- managing credentials (console spec section 7) ---------------------------------------


@dataclass(frozen=True)
class Owner:
    """Whose credentials: a provider (``model`` None) or one model of it, in one workspace."""

    tenant_id: uuid.UUID
    provider: str
    model: str | None = None
    model_type: ModelType | None = None


def balancing_of(owner: Owner) -> tuple[ColumnElement[bool], ...]:
    """The conditions that select a model's load-balancing entries."""
    return (
        LoadBalancingConfig.tenant_id == owner.tenant_id,
        LoadBalancingConfig.provider == owner.provider,
        LoadBalancingConfig.model_name == owner.model,
        LoadBalancingConfig.model_type == owner.model_type,
    )


def secret_fields(adapter: ModelAdapter) -> set[str]:
    """The fields never sent back in clear: ``secret-input`` fields of both credential forms."""
    forms = [
        *adapter.descriptor.credential_form_schemas,
        *adapter.descriptor.model_credential_schemas,
    ]
    return {field.variable for field in forms if field.type == "secret-input"}


async def owned_credential(
    session: AsyncSession, owner: Owner, credential_id: uuid.UUID
) -> ProviderCredential:
    """A credential of exactly this provider or model; 404 for any other, so a model's
    credential cannot be switched to, or edited, through the provider's routes."""
    found = await credential_by_id(session, owner.tenant_id, owner.provider, credential_id)
    if found.model_name != owner.model or found.model_type != owner.model_type:
        raise CredentialNotFound()
    return found


async def current_credential(session: AsyncSession, owner: Owner) -> ProviderCredential | None:
    config = await config_of(
        session, owner.tenant_id, owner.provider, owner.model, owner.model_type
    )
    if config is None or config.current_credential_id is None:
        return None
    return await session.get(ProviderCredential, config.current_credential_id)


async def masked_credential(
    session: AsyncSession,
    runtime: ModelRuntime,
    secret_key: str,
    owner: Owner,
    credential_id: uuid.UUID | None = None,
) -> tuple[ProviderCredential, dict[str, Any]] | None:
    """A credential (the current one when ``credential_id`` is None) with its secrets masked."""
    if credential_id is not None:
        row: ProviderCredential | None = await owned_credential(session, owner, credential_id)
    else:
        row = await current_credential(session, owner)
    if row is None:
        return None
    opened = await open_credential(session, secret_key, row)
    masked = secrets.obfuscate_credentials(opened, secret_fields(runtime.adapter(owner.provider)))
    return row, masked


async def create_credential(
    session: AsyncSession,
    runtime: ModelRuntime,
    secret_key: str,
    owner: Owner,
    credentials: Mapping[str, Any],
    name: str | None = None,
) -> ProviderCredential:
    """:func:`add_credential` for an :class:`Owner`; a new credential has no stored secret
    for ``[__HIDDEN__]`` to keep, so the marker is refused rather than saved as a key."""
    secrets.merge_hidden(credentials, {}, secret_fields(runtime.adapter(owner.provider)))
    return await add_credential(
        session,
        runtime,
        secret_key,
        owner.tenant_id,
        owner.provider,
        credentials,
        name=name,
        model=owner.model,
        model_type=owner.model_type,
    )


async def update_credential(
    session: AsyncSession,
    runtime: ModelRuntime,
    secret_key: str,
    owner: Owner,
    credential_id: uuid.UUID,
    credentials: Mapping[str, Any],
    name: str | None = None,
) -> ProviderCredential:
    """Replace a credential's values (``[__HIDDEN__]`` keeps a stored secret), validated by a
    real call first, and rename it when ``name`` is given."""
    row = await owned_credential(session, owner, credential_id)
    stored = await open_credential(session, secret_key, row)
    merged = secrets.merge_hidden(
        credentials, stored, secret_fields(runtime.adapter(owner.provider))
    )
    await validate(runtime, owner.provider, merged)
    siblings = await credentials_of(
        session, owner.tenant_id, owner.provider, owner.model, owner.model_type
    )
    row.name = checked_name(name, siblings, keep=row.id) or row.name
    row.encrypted_config = await secrets.encrypt_credentials(
        session, secret_key, owner.tenant_id, owner.provider, merged
    )
    row.is_valid = True
    await session.flush()
    return row


async def save_credentials(
    session: AsyncSession,
    runtime: ModelRuntime,
    secret_key: str,
    owner: Owner,
    credentials: Mapping[str, Any],
) -> ProviderCredential:
    """Dify up to 1.7: one credential per provider or model, replaced on each save."""
    current = await current_credential(session, owner)
    if current is None:
        return await create_credential(session, runtime, secret_key, owner, credentials)
    return await update_credential(session, runtime, secret_key, owner, current.id, credentials)


async def switch_credential(session: AsyncSession, owner: Owner, credential_id: uuid.UUID) -> None:
    row = await owned_credential(session, owner, credential_id)
    config = await ensure_config(
        session, owner.tenant_id, owner.provider, owner.model, owner.model_type
    )
    config.current_credential_id = row.id


async def _forget_credentials(
    session: AsyncSession, tenant_id: uuid.UUID, ids: list[uuid.UUID]
) -> None:
    """Drop every reference to ``ids`` (current choices, load-balancing entries) in SQL,
    not through foreign-key actions, which SQLite may not enforce."""
    if not ids:
        return
    await session.execute(
        delete(LoadBalancingConfig).where(
            LoadBalancingConfig.tenant_id == tenant_id, LoadBalancingConfig.credential_id.in_(ids)
        )
    )
    await session.execute(
        update(ProviderConfig)
        .where(ProviderConfig.tenant_id == tenant_id, ProviderConfig.current_credential_id.in_(ids))
        .values(current_credential_id=None)
    )
    await session.execute(delete(ProviderCredential).where(ProviderCredential.id.in_(ids)))


async def delete_credential(session: AsyncSession, owner: Owner, credential_id: uuid.UUID) -> None:
    """Delete a credential; when it was the current one, the oldest remaining one takes over."""
    row = await owned_credential(session, owner, credential_id)
    config = await config_of(
        session, owner.tenant_id, owner.provider, owner.model, owner.model_type
    )
    was_current = config is not None and config.current_credential_id == row.id
    await _forget_credentials(session, owner.tenant_id, [row.id])
    if not was_current:
        return
    remaining = await credentials_of(
        session, owner.tenant_id, owner.provider, owner.model, owner.model_type
    )
    # ``config`` is the row loaded above (the session's identity map already holds its
    # cleared current credential), so it is not read again.
    if config is not None and remaining:
        config.current_credential_id = remaining[0].id


async def remove_configuration(session: AsyncSession, owner: Owner) -> None:
    """Forget a provider's (or a model's) configuration: credentials, current choice, and for
    a model its load balancing and switches (Dify up to 1.7's DELETE routes)."""
    rows = await credentials_of(
        session, owner.tenant_id, owner.provider, owner.model, owner.model_type
    )
    await _forget_credentials(session, owner.tenant_id, [row.id for row in rows])
    if owner.model is not None:
        await session.execute(delete(LoadBalancingConfig).where(*balancing_of(owner)))
    config = await config_of(
        session, owner.tenant_id, owner.provider, owner.model, owner.model_type
    )
    if config is not None:
        await session.delete(config)
    await session.flush()


async def credentials_error(
    runtime: ModelRuntime, provider: str, credentials: Mapping[str, Any]
) -> str | None:
    """The provider's message when ``credentials`` fail a real call, None when they work."""
    try:
        await validate(runtime, provider, credentials)
    except ModelRuntimeError as error:
        return error.message
    return None


async def set_preferred_provider_type(
    session: AsyncSession, tenant_id: uuid.UUID, provider: str, value: str
) -> None:
    """Dify's switch between hosted quota (``system``) and own keys (``custom``). ore hosts
    no quota, so ``system`` is remembered but every call still uses the workspace's keys."""
    if value not in ("system", "custom"):
        raise InvalidParam("preferred_provider_type must be 'system' or 'custom'.")
    config = await ensure_config(session, tenant_id, provider)
    config.preferred_provider_type = value


# --- binding a model for calls -----------------------------------------------------------


@dataclass
class BoundModel:
    """One model of one workspace, ready to call: adapter, credentials and policy.

    Built inside a unit of work by :func:`bind_model`; used after it has closed.
    """

    provider: str
    model: str
    model_type: ModelType
    adapter: ModelAdapter
    pool: CredentialPool
    runtime: ModelRuntime

    @property
    def descriptor(self) -> ModelDescriptor | None:
        return self.adapter.model_descriptor(self.model, self.model_type)

    def stream_chat(self, request: ChatRequest) -> AsyncGenerator[ChatChunk, None]:
        """Chunks of one chat with failover across credentials; parameter errors and
        upstream errors raise at the first ``anext`` (before anything is sent)."""
        request = request.model_copy(update={"model": self.model})
        return self.pool.stream_chat(
            self.adapter,
            request,
            http_client=self.runtime.http_client,
            policy=self.runtime.policy,
        )

    async def chat(self, request: ChatRequest) -> ChatResult:
        request = request.model_copy(update={"model": self.model})
        return await self.pool.chat(
            self.adapter,
            request,
            http_client=self.runtime.http_client,
            policy=self.runtime.policy,
        )

    async def embed(self, texts: list[str], dimensions: int | None = None) -> EmbeddingResult:
        """Embeddings through the content-hash cache (a text is embedded once per model)."""
        entry = (await self.pool.candidates())[0]
        cache = self.runtime.embedding_cache(
            self.provider, f"{self.model}:{dimensions or ''}", self.model_type
        )

        async def embed_missing(missing: list[str]) -> EmbeddingResult:
            request = EmbeddingRequest(model=self.model, texts=missing, dimensions=dimensions)
            return await self.adapter.embed(
                request,
                entry.credentials,
                http_client=self.runtime.http_client,
                policy=self.runtime.policy,
            )

        return await cache.embed(self.model, texts, embed_missing)

    async def rerank(
        self,
        query: str,
        documents: list[str],
        *,
        top_n: int | None = None,
        score_threshold: float | None = None,
    ) -> RerankResult:
        entry = (await self.pool.candidates())[0]
        request = RerankRequest(
            model=self.model,
            query=query,
            documents=documents,
            top_n=top_n,
            score_threshold=score_threshold,
        )
        return await self.adapter.rerank(
            request, entry.credentials, http_client=self.runtime.http_client
        )


def needs_no_credentials(adapter: ModelAdapter) -> bool:
    """True for providers with an empty credential form, such as ``local``."""
    return not adapter.descriptor.credential_form_schemas


def pool_key(tenant_id: uuid.UUID, provider: str, model: str, model_type: ModelType) -> str:
    """The key of a model's failover pool, which names its credentials' cooldowns."""
    return f"{tenant_id}:{provider}:{model_type}:{model}"


def check_model(adapter: ModelAdapter, model: str, model_type: ModelType) -> None:
    """400 unless the provider lists the model or lets a workspace add models of its own."""
    if not _accepts_model(adapter, model, model_type):
        raise ModelNotFound(f"Model {adapter.provider}/{model} ({model_type}) does not exist.")


def _accepts_model(adapter: ModelAdapter, model: str, model_type: ModelType) -> bool:
    if model_type not in adapter.descriptor.supported_model_types:
        return False
    if adapter.model_descriptor(model, model_type) is not None:
        return True
    return "customizable-model" in adapter.descriptor.configurate_methods


async def _pool_entries(
    session: AsyncSession,
    runtime: ModelRuntime,
    secret_key: str,
    tenant_id: uuid.UUID,
    provider: str,
    model_config: ProviderConfig | None,
) -> list[PooledCredential]:
    provider_config = await config_of(session, tenant_id, provider)
    inherited = provider_config.current_credential_id if provider_config else None

    async def entry(credential_id: uuid.UUID, weight: int = 1) -> PooledCredential:
        row = await credential_by_id(session, tenant_id, provider, credential_id)
        opened = await open_credential(session, secret_key, row)
        return PooledCredential(id=str(row.id), credentials=opened, weight=weight)

    if model_config is not None and model_config.load_balancing_enabled:
        query = select(LoadBalancingConfig).where(
            LoadBalancingConfig.tenant_id == tenant_id,
            LoadBalancingConfig.provider == provider,
            LoadBalancingConfig.model_name == model_config.model_name,
            LoadBalancingConfig.model_type == model_config.model_type,
            LoadBalancingConfig.enabled.is_(True),
        )
        entries = []
        for lb in (await session.execute(query.order_by(LoadBalancingConfig.created_at))).scalars():
            credential_id = lb.credential_id or inherited
            if credential_id is not None:
                entries.append(await entry(credential_id, lb.weight))
        if entries:
            return entries
    if model_config is not None and model_config.current_credential_id is not None:
        return [await entry(model_config.current_credential_id)]
    if inherited is not None:
        return [await entry(inherited)]
    if provider_config is not None and needs_no_credentials(runtime.adapter(provider)):
        return [PooledCredential(id="none", credentials={})]
    return []


async def bind_model(
    session: AsyncSession,
    runtime: ModelRuntime,
    secret_key: str,
    tenant_id: uuid.UUID,
    provider: str,
    model: str,
    model_type: ModelType = "llm",
) -> BoundModel:
    """A callable model of this workspace.

    Raises ``UnknownProvider``/:class:`ModelNotFound` (400) when the provider does not know
    the model, :class:`ModelDisabled` when the workspace turned it off, and
    ``ProviderNotInitialized`` (400 ``provider_not_initialize``) when it has no credential.
    """
    adapter = runtime.adapter(provider)
    check_model(adapter, model, model_type)
    model_config = await config_of(session, tenant_id, provider, model, model_type)
    if model_config is not None and not model_config.enabled:
        raise ModelDisabled()
    entries = await _pool_entries(session, runtime, secret_key, tenant_id, provider, model_config)
    if not entries:
        raise ProviderNotInitialized()
    return BoundModel(
        provider=provider,
        model=model,
        model_type=model_type,
        adapter=adapter,
        pool=runtime.pool(pool_key(tenant_id, provider, model, model_type), entries),
        runtime=runtime,
    )


BINDING_TTL = 1.0  # seconds a bound model is reused by later calls of the same workspace
BINDING_CACHE_SIZE = 1024

BindingKey = tuple[uuid.UUID, str, ModelType]  # workspace, "provider/model", model type


class BindingCache(RecentCache[BindingKey, BoundModel]):
    """Models bound by recent calls, reused for ``ttl`` seconds.

    Binding reads the workspace's provider configuration and decrypts its credentials:
    several queries, about 2 ms on SQLite, on paths benchmarked against bare upstream
    calls. A busy workspace calls the same model many times a second, so a binding is
    kept briefly: a credential or model setting changed in the console reaches calls
    within ``ttl``. Failures are never kept. Callers still check their own key or app on
    every call, so revoking access takes effect at once.
    """

    def __init__(self, ttl: float = BINDING_TTL, size: int = BINDING_CACHE_SIZE) -> None:
        super().__init__(ttl, size)


# One cache per runtime, which is one per process lifespan (tests start many).
_CACHES: dict[int, BindingCache] = {}


def bindings_of(runtime: ModelRuntime) -> BindingCache:
    """The binding cache of this runtime, made on first use and dropped with it."""
    key = id(runtime)
    found = _CACHES.get(key)
    if found is None:
        found = _CACHES[key] = BindingCache()
        weakref.finalize(runtime, _CACHES.pop, key, None)
    return found


def recent_binding(
    runtime: ModelRuntime,
    tenant_id: uuid.UUID,
    provider: str,
    model: str,
    model_type: ModelType = "llm",
) -> BoundModel | None:
    """The binding :func:`bind_recent` would reuse, if any (no session needed)."""
    return bindings_of(runtime).get((tenant_id, f"{provider}/{model}", model_type))


async def bind_recent(
    session: AsyncSession,
    runtime: ModelRuntime,
    secret_key: str,
    tenant_id: uuid.UUID,
    provider: str,
    model: str,
    model_type: ModelType = "llm",
) -> BoundModel:
    """:func:`bind_model`, reusing a binding of the last :data:`BINDING_TTL` seconds."""
    found = recent_binding(runtime, tenant_id, provider, model, model_type)
    if found is None:
        found = await bind_model(
            session, runtime, secret_key, tenant_id, provider, model, model_type
        )
        bindings_of(runtime).put((tenant_id, f"{provider}/{model}", model_type), found)
    return found


@dataclass(frozen=True)
class AvailableModel:
    provider: str
    model: str
    model_type: ModelType
    descriptor: ModelDescriptor | None


async def available_models(
    session: AsyncSession,
    runtime: ModelRuntime,
    tenant_id: uuid.UUID,
    model_type: ModelType | None = None,
) -> list[AvailableModel]:
    """Every model the workspace can call: the catalogue models of providers that have a
    current credential, plus models with their own credential, minus disabled ones."""
    configs = list(
        (
            await session.execute(
                select(ProviderConfig).where(ProviderConfig.tenant_id == tenant_id)
            )
        ).scalars()
    )
    configured = {
        c.provider
        for c in configs
        if c.model_name is None
        and c.provider in runtime.registry
        and (
            c.current_credential_id is not None or needs_no_credentials(runtime.adapter(c.provider))
        )
    }
    disabled = {(c.provider, c.model_name, c.model_type) for c in configs if not c.enabled}
    found: dict[tuple[str, str, str], AvailableModel] = {}
    for provider in sorted(configured):
        for descriptor in runtime.adapter(provider).descriptor.models:
            key = (provider, descriptor.model, descriptor.model_type)
            found[key] = AvailableModel(
                provider, descriptor.model, descriptor.model_type, descriptor
            )
    for c in configs:
        if c.model_name is None or c.model_type is None or c.current_credential_id is None:
            continue
        if c.provider not in runtime.registry:
            continue
        kind = model_type_of(c.model_type)
        listed = runtime.adapter(c.provider).model_descriptor(c.model_name, kind)
        found.setdefault(
            (c.provider, c.model_name, kind),
            AvailableModel(c.provider, c.model_name, kind, listed),
        )
    return [
        m
        for key, m in sorted(found.items())
        if key not in disabled and (model_type is None or m.model_type == model_type)
    ]
