"""The model runtime: one streaming interface over every model provider.

A pure library (DESIGN.md §4): entities and the catalogue as data, adapters for the
OpenAI-compatible and Anthropic APIs, a provider registry fed by the ``ore.providers``
entry points, retries and deadlines, usage and prices, and credential failover.
"""

from ore.core.model_runtime.base import Credentials, ModelAdapter
from ore.core.model_runtime.embedding_cache import EmbeddingCache
from ore.core.model_runtime.entities import (
    ChatChunk,
    ChatMessage,
    ChatRequest,
    ChatResult,
    EmbeddingRequest,
    EmbeddingResult,
    RerankRequest,
    RerankResult,
    Usage,
    assemble,
)
from ore.core.model_runtime.pool import CredentialPool, PooledCredential
from ore.core.model_runtime.registry import ProviderRegistry, build_registry, split_model_id
from ore.core.model_runtime.retry import CallPolicy

__all__ = [
    "CallPolicy",
    "ChatChunk",
    "ChatMessage",
    "ChatRequest",
    "ChatResult",
    "CredentialPool",
    "Credentials",
    "EmbeddingCache",
    "EmbeddingRequest",
    "EmbeddingResult",
    "ModelAdapter",
    "PooledCredential",
    "ProviderRegistry",
    "RerankRequest",
    "RerankResult",
    "Usage",
    "assemble",
    "build_registry",
    "split_model_id",
]
