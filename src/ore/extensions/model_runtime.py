"""The model runtime of one process: the provider registry and how calls are made.

Built once by ``start_context`` from settings: the registry holds the ``ore.providers``
entry points and then PROVIDER_PLUGINS_DIR, every provider call goes through the
provider HTTP client (``core/http``, DESIGN.md §4), and the call policy, credential
cooldowns and embedding cache are the same for every caller. Services receive this object
to turn a workspace's stored configuration into a callable model.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from ore.config import Settings
from ore.core.kv import KV
from ore.core.model_runtime import (
    CallPolicy,
    CredentialPool,
    EmbeddingCache,
    ModelAdapter,
    PooledCredential,
    ProviderRegistry,
    build_registry,
)
from ore.core.model_runtime.catalogue import ModelType
from ore.extensions.http import HttpClients


@dataclass
class ModelRuntime:
    registry: ProviderRegistry
    policy: CallPolicy
    kv: KV
    http_client: httpx.AsyncClient
    cooldown: float

    def adapter(self, provider: str) -> ModelAdapter:
        """The adapter of ``provider``; ``UnknownProvider`` (400) when none is registered."""
        return self.registry.get(provider)

    def pool(self, key: str, entries: list[PooledCredential]) -> CredentialPool:
        """A failover pool whose cooldowns are shared by every process using this KV."""
        return CredentialPool(self.kv, key, entries, cooldown=self.cooldown)

    def embedding_cache(
        self, provider: str, model: str, model_type: ModelType = "text-embedding"
    ) -> EmbeddingCache:
        return EmbeddingCache(self.kv, f"{provider}:{model_type}:{model}")


def create_model_runtime(settings: Settings, kv: KV, http: HttpClients) -> ModelRuntime:
    policy = CallPolicy(
        max_retries=settings.MODEL_REQUEST_MAX_RETRIES,
        connect_timeout=settings.HTTP_REQUEST_MAX_CONNECT_TIMEOUT,
        first_chunk_timeout=settings.MODEL_FIRST_TOKEN_TIMEOUT,
        chunk_timeout=settings.MODEL_CHUNK_TIMEOUT,
        deadline=settings.MODEL_REQUEST_DEADLINE,
    )
    return ModelRuntime(
        registry=build_registry(settings.PROVIDER_PLUGINS_DIR or None),
        policy=policy,
        kv=kv,
        http_client=http.provider.httpx_client,
        cooldown=settings.MODEL_CREDENTIAL_COOLDOWN,
    )
