"""The OpenAI-compatible adapter, on the official ``openai`` SDK.

One class serves OpenAI and every server that speaks its chat-completions API; a vendor
is a :class:`ProviderDescriptor` plus a default base URL (see :mod:`.vendors`). The SDK's
own retries are off (``max_retries=0``): retries, deadlines and failover are ours.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from functools import partial
from typing import Any

import httpx
import openai

from ore.core.model_runtime.base import Credentials, ModelAdapter
from ore.core.model_runtime.catalogue import ProviderDescriptor
from ore.core.model_runtime.entities import (
    ChatChunk,
    ChatRequest,
    EmbeddingRequest,
    EmbeddingResult,
)
from ore.core.model_runtime.errors import (
    CompletionRequestError,
    CredentialsInvalid,
    InvalidModelParameter,
    ModelRuntimeError,
    RateLimited,
)
from ore.core.model_runtime.openai_messages import chunk_from_openai, request_body
from ore.core.model_runtime.retry import CallPolicy, retrying
from ore.core.model_runtime.usage import estimate_tokens, price_usage

_CONTEXT_HINTS = ("context length", "context_length", "maximum context", "too many tokens")
EMBEDDING_BATCH = 64


def provider_message(exc: Exception) -> str:
    """The provider's own words from an SDK error body, else the exception text."""
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and isinstance(inner.get("message"), str):
            return str(inner["message"])
        if isinstance(inner, str):
            return inner
    return getattr(exc, "message", None) or str(exc) or type(exc).__name__


def _bad_request(exc: openai.APIStatusError) -> ModelRuntimeError:
    message = provider_message(exc)
    body = exc.body if isinstance(exc.body, dict) else {}
    param = body.get("param") or (body.get("error") or {}).get("param") if body else None
    if any(hint in message.lower() for hint in _CONTEXT_HINTS):
        return InvalidModelParameter(message, parameter=str(param or "messages"))
    if param:
        return InvalidModelParameter(message, parameter=str(param))
    return CompletionRequestError(message)


def map_openai_error(exc: Exception) -> ModelRuntimeError:
    """Any failure of an SDK call as a runtime error with Dify's code."""
    if isinstance(exc, ModelRuntimeError):
        return exc
    if isinstance(exc, openai.AuthenticationError | openai.PermissionDeniedError):
        return CredentialsInvalid(provider_message(exc))
    if isinstance(exc, openai.RateLimitError):
        return RateLimited(provider_message(exc))
    if isinstance(exc, openai.APITimeoutError):
        return CompletionRequestError("The model provider timed out.", retryable=True)
    if isinstance(exc, openai.APIConnectionError):
        return CompletionRequestError(
            f"Could not reach the model provider: {exc.__cause__ or exc}", retryable=True
        )
    if isinstance(exc, openai.APIStatusError):
        if exc.status_code >= 500:
            return CompletionRequestError(provider_message(exc), retryable=True)
        if exc.status_code in (400, 404, 422):
            return _bad_request(exc)
        return CompletionRequestError(provider_message(exc))
    if isinstance(exc, httpx.TimeoutException):
        return CompletionRequestError("The model provider timed out.", retryable=True)
    if isinstance(exc, httpx.HTTPError):
        return CompletionRequestError(f"The model provider's stream failed: {exc}")
    return CompletionRequestError(f"Malformed response from the model provider: {exc}")


class OpenAICompatibleAdapter(ModelAdapter):
    """Chat and embeddings against an OpenAI-style ``/chat/completions`` endpoint."""

    api_key_field = "api_key"
    base_url_field = "base_url"

    def __init__(self, descriptor: ProviderDescriptor, default_base_url: str | None) -> None:
        self.descriptor = descriptor
        self.default_base_url = default_base_url

    def base_url(self, credentials: Credentials) -> str:
        url = credentials.get(self.base_url_field) or self.default_base_url
        if not url:
            raise CredentialsInvalid("The API base URL is required.")
        text = str(url).rstrip("/")
        try:
            parsed = httpx.URL(text)
        except (httpx.InvalidURL, TypeError, ValueError):
            parsed = None
        if parsed is None or parsed.scheme not in ("http", "https") or not parsed.host:
            raise CredentialsInvalid(f"The API base URL {text!r} is not a valid http(s) URL.")
        return text

    def make_client(
        self,
        credentials: Credentials,
        http_client: httpx.AsyncClient | None,
        policy: CallPolicy,
    ) -> openai.AsyncOpenAI:
        """An SDK client for one call; the caller's ``http_client`` does the I/O."""
        return openai.AsyncOpenAI(
            api_key=str(credentials.get(self.api_key_field) or "not-needed"),
            base_url=self.base_url(credentials),
            http_client=http_client,
            max_retries=0,
            timeout=httpx.Timeout(policy.chunk_timeout, connect=policy.connect_timeout),
        )

    async def open_stream(
        self,
        request: ChatRequest,
        parameters: dict[str, Any],
        credentials: Credentials,
        http_client: httpx.AsyncClient | None,
        policy: CallPolicy,
    ) -> AsyncIterator[ChatChunk]:
        client = self.make_client(credentials, http_client, policy)
        try:
            stream = await client.chat.completions.create(**request_body(request, parameters))
            finished = False
            try:
                async for data in stream:
                    chunk = chunk_from_openai(data)
                    finished = finished or chunk.finish_reason is not None
                    yield chunk
            finally:
                await stream.close()
        except Exception as exc:
            raise map_openai_error(exc) from exc
        if not finished:
            raise CompletionRequestError("The model provider's stream ended early.")

    async def check_credentials(
        self, credentials: Credentials, http_client: httpx.AsyncClient | None
    ) -> None:
        client = self.make_client(credentials, http_client, CallPolicy())
        try:
            await client.models.list()
        except Exception as exc:
            mapped = map_openai_error(exc)
            raise CredentialsInvalid(mapped.message) from exc

    async def embed(
        self,
        request: EmbeddingRequest,
        credentials: Credentials,
        *,
        http_client: httpx.AsyncClient | None = None,
        policy: CallPolicy | None = None,
    ) -> EmbeddingResult:
        """Embed in batches of :data:`EMBEDDING_BATCH`, each retried on its own."""
        credentials = self.require_credentials(credentials)
        policy = policy or CallPolicy()
        client = self.make_client(credentials, http_client, policy)
        vectors: list[list[float]] = []
        tokens = 0
        reported = True
        for start in range(0, len(request.texts), EMBEDDING_BATCH):
            batch = request.texts[start : start + EMBEDDING_BATCH]
            response = await retrying(partial(self._embed_batch, client, request, batch), policy)
            vectors.extend(item.embedding for item in sorted(response.data, key=lambda d: d.index))
            used = response.usage.prompt_tokens if response.usage else 0
            reported = reported and used > 0
            tokens += used or sum(estimate_tokens(t) for t in batch)
        found = self.model_descriptor(request.model, "text-embedding")
        usage = price_usage(
            tokens, 0, found.pricing if found else None, latency=0.0, estimated=not reported
        )
        return EmbeddingResult(model=request.model, embeddings=vectors, usage=usage)

    async def _embed_batch(
        self, client: openai.AsyncOpenAI, request: EmbeddingRequest, batch: list[str]
    ) -> Any:
        extra: dict[str, Any] = {}
        if request.dimensions:
            extra["dimensions"] = request.dimensions
        try:
            return await client.embeddings.create(
                model=request.model, input=batch, encoding_format="float", **extra
            )
        except Exception as exc:
            raise map_openai_error(exc) from exc


class AzureOpenAIAdapter(OpenAICompatibleAdapter):
    """Azure OpenAI: the model name is the deployment name; ``api_version`` per credential."""

    base_url_field = "openai_api_base"

    def make_client(
        self,
        credentials: Credentials,
        http_client: httpx.AsyncClient | None,
        policy: CallPolicy,
    ) -> openai.AsyncOpenAI:
        return openai.AsyncAzureOpenAI(
            api_key=str(credentials.get(self.api_key_field) or ""),
            azure_endpoint=self.base_url(credentials),
            api_version=str(credentials.get("openai_api_version") or "2024-10-21"),
            http_client=http_client,
            max_retries=0,
            timeout=httpx.Timeout(policy.chunk_timeout, connect=policy.connect_timeout),
        )
