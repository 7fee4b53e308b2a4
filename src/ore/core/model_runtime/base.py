"""The one adapter interface: every provider streams :class:`ChatChunk` objects.

An adapter implements :meth:`ModelAdapter.open_stream` (one upstream call, its errors
mapped to runtime errors) and :meth:`ModelAdapter.check_credentials`. The base class adds,
the same way for all: parameter validation before the call, retries and deadlines
(:mod:`.retry`), usage (reported or estimated, priced from the catalogue), and
:meth:`chat` assembled from :meth:`stream_chat`.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from contextlib import aclosing
from typing import Any

import httpx

from ore.core.model_runtime.catalogue import (
    ModelDescriptor,
    ModelType,
    ParameterRule,
    ProviderDescriptor,
    chat_rules,
    validate_parameters,
)
from ore.core.model_runtime.entities import (
    ChatChunk,
    ChatRequest,
    ChatResult,
    EmbeddingRequest,
    EmbeddingResult,
    RerankRequest,
    RerankResult,
    assemble,
)
from ore.core.model_runtime.errors import (
    CredentialsInvalid,
    InvalidModelParameter,
    ModelRuntimeError,
    ProviderNotInitialized,
)
from ore.core.model_runtime.retry import CallPolicy, guarded_stream
from ore.core.model_runtime.usage import estimate_messages, estimate_tokens, price_usage

Credentials = Mapping[str, Any]


def _generic_rules() -> list[ParameterRule]:
    """The generic chat rules, built once: building them took a share of every call."""
    return list(_GENERIC_RULES)


_GENERIC_RULES = tuple(chat_rules())


class ModelAdapter(ABC):
    """A provider: its catalogue entry and how to call it."""

    descriptor: ProviderDescriptor

    @property
    def provider(self) -> str:
        return self.descriptor.provider

    # --- what each adapter implements -----------------------------------------------

    @abstractmethod
    def open_stream(
        self,
        request: ChatRequest,
        parameters: dict[str, Any],
        credentials: Credentials,
        http_client: httpx.AsyncClient | None,
        policy: CallPolicy,
    ) -> AsyncIterator[ChatChunk]:
        """One upstream streaming call (connect timeout from ``policy``); every failure
        raised as a runtime error."""

    @abstractmethod
    async def check_credentials(
        self, credentials: Credentials, http_client: httpx.AsyncClient | None
    ) -> None:
        """A cheap real call; raise :class:`CredentialsInvalid` with the provider's message."""

    async def embed(
        self,
        request: EmbeddingRequest,
        credentials: Credentials,
        *,
        http_client: httpx.AsyncClient | None = None,
        policy: CallPolicy | None = None,
    ) -> EmbeddingResult:
        """Embed texts; providers without embeddings refuse with ``invalid_param``."""
        raise InvalidModelParameter(
            f"Provider {self.provider} has no text-embedding models.", parameter="model"
        )

    async def rerank(
        self,
        request: RerankRequest,
        credentials: Credentials,
        *,
        http_client: httpx.AsyncClient | None = None,
    ) -> RerankResult:
        """Rerank documents; providers without rerank refuse with ``invalid_param``."""
        raise InvalidModelParameter(
            f"Provider {self.provider} has no rerank models.", parameter="model"
        )

    # --- shared behaviour -------------------------------------------------------------

    def model_descriptor(self, name: str, model_type: ModelType = "llm") -> ModelDescriptor | None:
        return self.descriptor.find_model(name, model_type)

    def parameter_rules(self, model: str) -> list[ParameterRule]:
        """The model's rules, or the generic chat rules for a model outside the catalogue."""
        found = self.model_descriptor(model)
        return found.parameter_rules if found and found.parameter_rules else _generic_rules()

    async def validate_credentials(
        self, credentials: Credentials, *, http_client: httpx.AsyncClient | None = None
    ) -> None:
        """Check the required form fields, then make a real call; failures raise
        :class:`CredentialsInvalid` (400 ``invalid_param``) with the provider's message."""
        missing = self.missing_field(credentials)
        if missing is not None:
            raise CredentialsInvalid(f"{missing} is required.")
        await self.check_credentials(credentials, http_client)

    def missing_field(self, credentials: Credentials | None) -> str | None:
        """The label of the first required credential field that is empty, if any."""
        for field in self.descriptor.credential_form_schemas:
            if field.required and not (credentials or {}).get(field.variable):
                return field.label.en_US
        return None

    def require_credentials(self, credentials: Credentials | None) -> Credentials:
        """Credentials fit for a call, or :class:`ProviderNotInitialized`."""
        if not credentials or self.missing_field(credentials) is not None:
            raise ProviderNotInitialized()
        return credentials

    def stream_chat(
        self,
        request: ChatRequest,
        credentials: Credentials | None,
        *,
        http_client: httpx.AsyncClient | None = None,
        policy: CallPolicy | None = None,
    ) -> AsyncGenerator[ChatChunk, None]:
        """Stream a chat: parameters are validated now, before anything is sent."""
        usable = self.require_credentials(credentials)
        parameters = validate_parameters(self.parameter_rules(request.model), request.parameters)
        return self._metered(request, parameters, usable, http_client, policy or CallPolicy())

    async def chat(
        self,
        request: ChatRequest,
        credentials: Credentials | None,
        *,
        http_client: httpx.AsyncClient | None = None,
        policy: CallPolicy | None = None,
    ) -> ChatResult:
        """A blocking chat, assembled from the same stream."""
        stream = self.stream_chat(request, credentials, http_client=http_client, policy=policy)
        return assemble(request.model, [chunk async for chunk in stream])

    async def _metered(
        self,
        request: ChatRequest,
        parameters: dict[str, Any],
        credentials: Credentials,
        http_client: httpx.AsyncClient | None,
        policy: CallPolicy,
    ) -> AsyncGenerator[ChatChunk, None]:
        """Pass chunks on, then one closing chunk with priced usage."""
        started = time.monotonic()
        reported = None
        text: list[str] = []
        args: list[str] = []
        stream = guarded_stream(
            lambda: self.open_stream(request, parameters, credentials, http_client, policy),
            policy,
        )
        async with aclosing(stream):
            async for chunk in stream:
                text.append(chunk.content)
                args.extend(d.arguments + (d.name or "") for d in chunk.tool_calls)
                if chunk.usage is not None:
                    reported = chunk.usage
                    chunk = chunk.model_copy(update={"usage": None})
                if chunk.content or chunk.tool_calls or chunk.finish_reason:
                    yield chunk
        found = self.model_descriptor(request.model)
        pricing = found.pricing if found else None
        latency = time.monotonic() - started
        if reported is not None and reported.prompt_tokens + reported.completion_tokens > 0:
            usage = price_usage(
                reported.prompt_tokens,
                reported.completion_tokens,
                pricing,
                latency=latency,
                estimated=False,
            )
        else:
            prompt = estimate_messages(request.messages)
            completion = estimate_tokens("".join(text)) + estimate_tokens("".join(args))
            usage = price_usage(prompt, completion, pricing, latency=latency, estimated=True)
        yield ChatChunk(usage=usage)


__all__ = ["Credentials", "ModelAdapter", "ModelRuntimeError"]
