"""The built-in ``local`` provider: ore's offline models behind the runtime's adapter.

Chat runs on :class:`~ore.core.local_models.LocalChatEngine` (SmolLM2-135M-Instruct on
llama.cpp), embeddings on :class:`~ore.core.local_models.LocalEmbedder` (all-MiniLM-L6-v2,
384 dimensions) and rerank on :class:`~ore.core.local_models.LocalReranker`. Nothing leaves
the machine, so the provider has no credentials and costs nothing. Usage is llama.cpp's and
the tokenizer's own counts, never an estimate. Tool calls and ``response_format`` are passed
to the engine, which forces them with a JSON-schema grammar.

The models are loaded once per process, on first use, by :class:`LocalModels`: the engine
owns one llama.cpp model and one worker thread, and a second copy would only waste memory.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from typing import Any, cast, get_args

import httpx

from ore.core.local_models import (
    CHAT_MODEL_NAME,
    EMBEDDING_MODEL_NAME,
    RERANK_MODEL_NAME,
    ChatDelta,
    LocalChatEngine,
    LocalChatError,
    LocalEmbedder,
    LocalModelMissing,
    LocalReranker,
    canonical_model_name,
)
from ore.core.local_models import ChatRequest as LocalChatRequest
from ore.core.local_models.chat import N_CTX
from ore.core.local_models.embeddings import DIMENSIONS
from ore.core.local_models.embeddings import MAX_TOKENS as EMBEDDING_MAX_TOKENS
from ore.core.model_runtime.base import Credentials, ModelAdapter
from ore.core.model_runtime.catalogue import (
    SEED,
    STOP,
    TOP_P,
    I18n,
    ModelDescriptor,
    ModelType,
    ParameterRule,
    Pricing,
    ProviderDescriptor,
    max_tokens_rule,
)
from ore.core.model_runtime.entities import (
    ChatChunk,
    ChatRequest,
    EmbeddingRequest,
    EmbeddingResult,
    FinishReason,
    RerankDocument,
    RerankRequest,
    RerankResult,
    ToolCallDelta,
    Usage,
)
from ore.core.model_runtime.errors import (
    CompletionRequestError,
    InvalidModelParameter,
    ModelNotFound,
)
from ore.core.model_runtime.openai_messages import request_body
from ore.core.model_runtime.retry import CallPolicy
from ore.core.model_runtime.usage import price_usage

# One spelling with `ore models serve-local` (ore.core.local_models.names).
CHAT_MODEL = CHAT_MODEL_NAME
EMBEDDING_MODEL = EMBEDDING_MODEL_NAME
RERANK_MODEL = RERANK_MODEL_NAME
_FREE = Pricing(input="0", output="0")
_FINISH: frozenset[str] = frozenset(get_args(FinishReason))


class LocalModels:
    """The process's local models, each created on first use (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._chat: LocalChatEngine | None = None
        self._embedder: LocalEmbedder | None = None
        self._reranker: LocalReranker | None = None

    def chat(self) -> LocalChatEngine:
        with self._lock:
            if self._chat is None:
                self._chat = LocalChatEngine()
            return self._chat

    def embedder(self) -> LocalEmbedder:
        with self._lock:
            return self._embedder_locked()

    def reranker(self) -> LocalReranker:
        with self._lock:
            if self._reranker is None:
                # Same MiniLM as the embeddings: one copy of the weights in memory.
                self._reranker = LocalReranker(self._embedder_locked())
            return self._reranker

    def _embedder_locked(self) -> LocalEmbedder:
        if self._embedder is None:
            self._embedder = LocalEmbedder()
        return self._embedder


_MODELS = LocalModels()


def _descriptor() -> ProviderDescriptor:
    chat = ModelDescriptor(
        model=CHAT_MODEL,
        label=I18n(en_US=CHAT_MODEL),
        model_type="llm",
        # Tool calls and JSON output are forced by a grammar, one call at a time.
        features=["tool-call", "structured-output"],
        context_size=N_CTX,
        max_output_tokens=N_CTX,
        pricing=_FREE,
        # What the engine honours; penalties are not offered rather than silently ignored.
        parameter_rules=[
            ParameterRule(name="temperature", min=0, max=2, default=0.7, precision=2),
            TOP_P,
            max_tokens_rule(N_CTX, default=512),
            SEED,
            STOP,
        ],
    )
    embedding = ModelDescriptor(
        model=EMBEDDING_MODEL,
        label=I18n(en_US=f"{EMBEDDING_MODEL} ({DIMENSIONS} dimensions)"),
        model_type="text-embedding",
        context_size=EMBEDDING_MAX_TOKENS,
        pricing=_FREE,
    )
    rerank = ModelDescriptor(
        model=RERANK_MODEL,
        label=I18n(en_US=RERANK_MODEL),
        model_type="rerank",
        context_size=EMBEDDING_MAX_TOKENS,
        pricing=_FREE,
    )
    return ProviderDescriptor(
        provider="local",
        label=I18n(en_US="Local models", zh_Hans="本地模型"),
        description=I18n(en_US="Small models that run inside ore, offline, with no keys."),
        supported_model_types=["llm", "text-embedding", "rerank"],
        configurate_methods=["predefined-model"],
        credential_form_schemas=[],
        models=[chat, embedding, rerank],
    )


def _finish_reason(reason: str) -> FinishReason:
    return cast(FinishReason, reason) if reason in _FINISH else "stop"


def _to_engine(request: ChatRequest, parameters: dict[str, Any]) -> LocalChatRequest:
    """The runtime's request in the engine's OpenAI-style shape."""
    body = request_body(request, {})
    stop = parameters.get("stop") or []
    out = LocalChatRequest(
        messages=body["messages"],
        max_tokens=parameters.get("max_tokens"),
        stop=[stop] if isinstance(stop, str) else list(stop),
        seed=parameters.get("seed"),
        response_format=body.get("response_format"),
        tools=body.get("tools"),
        tool_choice=body.get("tool_choice"),
    )
    if "temperature" in parameters:
        out.temperature = parameters["temperature"]
    if "top_p" in parameters:
        out.top_p = parameters["top_p"]
    return out


class LocalAdapter(ModelAdapter):
    """The ``local`` provider; every adapter built shares the process's models."""

    def __init__(self, models: LocalModels | None = None) -> None:
        self.descriptor = _descriptor()
        self._models = models or _MODELS

    def require_credentials(self, credentials: Credentials | None) -> Credentials:
        return credentials or {}  # nothing to configure: always initialised

    async def check_credentials(
        self, credentials: Credentials, http_client: httpx.AsyncClient | None
    ) -> None:
        return None

    def model_descriptor(self, name: str, model_type: ModelType = "llm") -> ModelDescriptor | None:
        """Names match in any case: ``local/smollm2-135m-instruct`` is the catalogue's
        ``SmolLM2-135M-Instruct``, as typed by hand or listed by older serve-local builds."""
        return super().model_descriptor(canonical_model_name(name) or name, model_type)

    def _require_model(self, name: str, model_type: ModelType) -> None:
        if self.model_descriptor(name, model_type) is None:
            raise ModelNotFound(f"The local provider has no {model_type} model {name!r}.")

    def open_stream(
        self,
        request: ChatRequest,
        parameters: dict[str, Any],
        credentials: Credentials,
        http_client: httpx.AsyncClient | None,
        policy: CallPolicy,
    ) -> AsyncIterator[ChatChunk]:
        self._require_model(request.model, "llm")
        return self._stream(_to_engine(request, parameters))

    async def _stream(self, request: LocalChatRequest) -> AsyncIterator[ChatChunk]:
        try:
            engine = self._models.chat()
            async for event in engine.stream(request):
                if isinstance(event, ChatDelta):
                    yield ChatChunk(content=event.text)
                    continue
                yield ChatChunk(
                    tool_calls=[
                        ToolCallDelta(index=i, id=c.id, name=c.name, arguments=c.arguments)
                        for i, c in enumerate(event.tool_calls)
                    ],
                    finish_reason=_finish_reason(event.finish_reason),
                    usage=Usage(
                        prompt_tokens=event.usage.prompt_tokens,
                        completion_tokens=event.usage.completion_tokens,
                        total_tokens=event.usage.total_tokens,
                    ),
                )
        except LocalChatError as exc:
            raise InvalidModelParameter(str(exc)) from exc
        except LocalModelMissing as exc:
            raise CompletionRequestError(str(exc)) from exc

    async def embed(
        self,
        request: EmbeddingRequest,
        credentials: Credentials,
        *,
        http_client: httpx.AsyncClient | None = None,
        policy: CallPolicy | None = None,
    ) -> EmbeddingResult:
        """MiniLM vectors (384 dimensions, unit length), in input order."""
        self._require_model(request.model, "text-embedding")
        if request.dimensions not in (None, DIMENSIONS):
            raise InvalidModelParameter(
                f"{EMBEDDING_MODEL} has {DIMENSIONS} dimensions only.", parameter="dimensions"
            )
        try:
            result = await self._models.embedder().aembed(request.texts)
        except LocalModelMissing as exc:
            raise CompletionRequestError(str(exc)) from exc
        usage = price_usage(result.prompt_tokens, 0, _FREE, latency=0.0, estimated=False)
        return EmbeddingResult(
            model=EMBEDDING_MODEL, embeddings=result.vectors.tolist(), usage=usage
        )

    async def rerank(
        self,
        request: RerankRequest,
        credentials: Credentials,
        *,
        http_client: httpx.AsyncClient | None = None,
    ) -> RerankResult:
        """Documents ordered by cosine similarity to the query, best first."""
        self._require_model(request.model, "rerank")
        try:
            ranked = await self._models.reranker().arerank(
                request.query, request.documents, request.top_n, request.score_threshold
            )
        except LocalModelMissing as exc:
            raise CompletionRequestError(str(exc)) from exc
        documents = [RerankDocument(index=r.index, text=r.text, score=r.score) for r in ranked]
        return RerankResult(model=RERANK_MODEL, documents=documents)


provider = LocalAdapter()
