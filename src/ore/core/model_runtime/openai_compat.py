"""The OpenAI-compatible adapter: chat over httpx, the rest on the official ``openai`` SDK.

One class serves OpenAI and every server that speaks its chat-completions API; a vendor
is a :class:`ProviderDescriptor` plus a default base URL (see :mod:`.vendors`).

Chat streams are sent and read with the caller's httpx client directly, because the SDK
cost more than the gateway's whole budget on a fast upstream: it built a model object per
chunk and closed each response at ``data: [DONE]`` before the body had ended, so no
connection ever went back to the pool. The events are framed as the SDK frames them and
every failure is mapped as :func:`map_openai_error` maps the SDK's errors. Credential
checks and embeddings stay on the SDK, with its own retries off (``max_retries=0``):
retries, deadlines and failover are ours.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing
from functools import lru_cache, partial
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
    malformed,
    timed_out,
    unreachable,
)
from ore.core.model_runtime.openai_messages import chunk_from_openai, request_body
from ore.core.model_runtime.retry import CallPolicy, retrying
from ore.core.model_runtime.usage import estimate_tokens, price_usage

_CONTEXT_HINTS = ("context length", "context_length", "maximum context", "too many tokens")
EMBEDDING_BATCH = 64


def _message_in(body: object) -> str | None:
    """The provider's own words in an error body (``{"error": {"message": ...}}`` or flat)."""
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and isinstance(inner.get("message"), str):
            return str(inner["message"])
        if isinstance(inner, str):
            return inner
    return None


def provider_message(exc: Exception) -> str:
    """The provider's own words from an SDK error body, else the exception text."""
    found = _message_in(getattr(exc, "body", None))
    if found is not None:
        return found
    return getattr(exc, "message", None) or str(exc) or type(exc).__name__


def _bad_request(message: str, body: object) -> ModelRuntimeError:
    error = body if isinstance(body, dict) else {}
    param = error.get("param") or (error.get("error") or {}).get("param") if error else None
    if any(hint in message.lower() for hint in _CONTEXT_HINTS):
        return InvalidModelParameter(message, parameter=str(param or "messages"))
    if param:
        return InvalidModelParameter(message, parameter=str(param))
    return CompletionRequestError(message)


def status_error(status: int, body: object, message: str) -> ModelRuntimeError:
    """An upstream error status as a runtime error; ``body`` is the error object the SDK
    would carry (the ``error`` member of a JSON body, else the body)."""
    if status in (401, 403):
        return CredentialsInvalid(message)
    if status == 429:
        return RateLimited(message)
    if status >= 500:
        return CompletionRequestError(message, retryable=True)
    if status in (400, 404, 422):
        return _bad_request(message, body)
    return CompletionRequestError(message)


def map_openai_error(exc: Exception) -> ModelRuntimeError:
    """Any failure of an SDK call as a runtime error with Dify's code."""
    if isinstance(exc, ModelRuntimeError):
        return exc
    if isinstance(exc, openai.APITimeoutError):
        return timed_out()
    if isinstance(exc, openai.APIConnectionError):
        return unreachable(exc.__cause__ or exc)
    if isinstance(exc, openai.APIStatusError):
        return status_error(exc.status_code, exc.body, provider_message(exc))
    if isinstance(exc, httpx.TimeoutException):
        return timed_out()
    if isinstance(exc, httpx.HTTPError):
        return CompletionRequestError(f"The model provider's stream failed: {exc}")
    return malformed(exc)


# --- chat streams over httpx ----------------------------------------------------------------

_USER_AGENT = f"AsyncOpenAI/Python {openai.__version__}"
# After ``data: [DONE]`` the rest of the body (normally just the chunked terminator) is
# read so the connection can serve the next call; an upstream that sends more, or keeps
# the body open, loses its connection instead of delaying the caller.
_DRAIN_BYTES = 64 * 1024
_DRAIN_SECONDS = 0.5


class EventFramer:
    """Server-sent events cut from a byte stream, framed as the openai SDK frames them.

    A blank line ends an event; its ``data`` lines are joined by newlines; comments and
    unknown fields are ignored; an event with only an ``event``, ``id`` or ``retry`` field
    still counts (with empty data), and the last ``id`` is kept, as the SSE spec says.
    Bytes after the last blank line are not an event.
    """

    def __init__(self) -> None:
        self._partial = b""
        self._after_cr = False
        self._data: list[str] = []
        self._event = ""
        self._last_id = ""
        self._retry: int | None = None

    def feed(self, chunk: bytes) -> list[str]:
        """The data of every event that ``chunk`` completes."""
        if self._after_cr and chunk.startswith(b"\n"):
            chunk = chunk[1:]  # the CRLF was split between two reads
        lines = (self._partial + chunk).splitlines(keepends=True)
        self._partial = b""
        if lines and not lines[-1].endswith((b"\n", b"\r")):
            self._partial = lines.pop()
        self._after_cr = bool(lines) and not self._partial and lines[-1].endswith(b"\r")
        events: list[str] = []
        for raw in lines:
            line = raw.rstrip(b"\r\n").decode("utf-8")
            if line:
                self._field(line)
            elif self._data or self._event or self._last_id or self._retry is not None:
                events.append("\n".join(self._data))
                self._data, self._event, self._retry = [], "", None
        return events

    def _field(self, line: str) -> None:
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id" and "\0" not in value:
            self._last_id = value
        elif name == "retry":
            with contextlib.suppress(ValueError):
                self._retry = int(value)


def _stream_error(error: object) -> CompletionRequestError:
    """An ``{"error": ...}`` event inside a stream, worded as the SDK's error was mapped."""
    message = error.get("message") if isinstance(error, dict) else None
    if not message or not isinstance(message, str):
        message = "An error occurred during streaming"
    return malformed(message)


async def _status_error(response: httpx.Response) -> ModelRuntimeError:
    """A non-2xx answer as a runtime error, its message taken as the SDK takes it."""
    await response.aread()
    text = response.text.strip()
    body: Any
    try:
        body = json.loads(text)
        message = f"Error code: {response.status_code} - {body}"
    except ValueError:
        body = text
        message = text or f"Error code: {response.status_code}"
    error = body.get("error", body) if isinstance(body, dict) else body
    found = _message_in(error)
    return status_error(response.status_code, error, message if found is None else found)


async def _send(client: httpx.AsyncClient, request: httpx.Request) -> httpx.Response:
    try:
        return await client.send(request, stream=True)
    except httpx.TimeoutException as exc:
        raise timed_out() from exc
    except Exception as exc:  # any failure to send is a connection failure, as in the SDK
        raise unreachable(exc) from exc


async def _drain(chunks: AsyncIterator[bytes]) -> None:
    """Read the body's end after ``[DONE]``, within :data:`_DRAIN_BYTES` and
    :data:`_DRAIN_SECONDS`; the answer is complete, so a failure here is no error."""
    size = 0
    with contextlib.suppress(httpx.HTTPError, TimeoutError):
        async with asyncio.timeout(_DRAIN_SECONDS):
            async for raw in chunks:
                size += len(raw)
                if size > _DRAIN_BYTES:
                    return


async def _events(response: httpx.Response) -> AsyncGenerator[Any, None]:
    """The decoded JSON of each event up to ``[DONE]``; an error event raises."""
    framer = EventFramer()
    chunks = response.aiter_bytes()
    async for raw in chunks:
        for data in framer.feed(raw):
            if data.startswith("[DONE]"):
                await _drain(chunks)
                return
            payload = json.loads(data)
            if isinstance(payload, dict) and payload.get("error"):
                raise _stream_error(payload["error"])
            yield payload


@lru_cache(maxsize=1024)
def _is_http_url(text: str) -> bool:
    """Whether ``text`` is an absolute http(s) URL; remembered, as it is asked on every call."""
    try:
        parsed = httpx.URL(text)
    except (httpx.InvalidURL, TypeError, ValueError):
        return False
    return parsed.scheme in ("http", "https") and bool(parsed.host)


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
        if not _is_http_url(text):
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
            timeout=policy.http_timeout(),
        )

    def chat_target(
        self, credentials: Credentials, model: str
    ) -> tuple[str, dict[str, str], dict[str, str]]:
        """URL, headers and query of a chat-completions call, as the SDK would send them."""
        api_key = str(credentials.get(self.api_key_field) or "not-needed")
        url = f"{self.base_url(credentials)}/chat/completions"
        return url, {"Authorization": f"Bearer {api_key}"}, {}

    async def open_stream(
        self,
        request: ChatRequest,
        parameters: dict[str, Any],
        credentials: Credentials,
        http_client: httpx.AsyncClient | None,
        policy: CallPolicy,
    ) -> AsyncIterator[ChatChunk]:
        url, auth, query = self.chat_target(credentials, request.model)
        # Without a caller's client the call gets its own, as the SDK did.
        client = http_client or httpx.AsyncClient(follow_redirects=True)
        finished = False
        try:
            outgoing = client.build_request(
                "POST",
                url,
                params=query or None,
                headers={**auth, "Accept": "application/json", "User-Agent": _USER_AGENT},
                json=request_body(request, parameters),
                timeout=policy.http_timeout(),
            )
            response = await _send(client, outgoing)
            try:
                if not response.is_success:
                    raise await _status_error(response)
                async with aclosing(_events(response)) as events:
                    async for data in events:
                        chunk = chunk_from_openai(data)
                        finished = finished or chunk.finish_reason is not None
                        yield chunk
            finally:
                await response.aclose()
        except ModelRuntimeError:
            raise
        except Exception as exc:
            raise map_openai_error(exc) from exc
        finally:
            if http_client is None:
                await client.aclose()
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

    def chat_target(
        self, credentials: Credentials, model: str
    ) -> tuple[str, dict[str, str], dict[str, str]]:
        """``{endpoint}/openai/deployments/{model}/chat/completions?api-version=...`` with
        the key in ``api-key``, as ``AsyncAzureOpenAI`` sends it."""
        base = f"{self.base_url(credentials)}/openai"
        if "/deployments" not in httpx.URL(base).path:
            base = f"{base}/deployments/{model}"
        api_key = str(credentials.get(self.api_key_field) or "")
        headers = {"api-key": api_key} if api_key else {}
        return f"{base}/chat/completions", headers, {"api-version": _api_version(credentials)}

    def make_client(
        self,
        credentials: Credentials,
        http_client: httpx.AsyncClient | None,
        policy: CallPolicy,
    ) -> openai.AsyncOpenAI:
        return openai.AsyncAzureOpenAI(
            api_key=str(credentials.get(self.api_key_field) or ""),
            azure_endpoint=self.base_url(credentials),
            api_version=_api_version(credentials),
            http_client=http_client,
            max_retries=0,
            timeout=policy.http_timeout(),
        )


def _api_version(credentials: Credentials) -> str:
    return str(credentials.get("openai_api_version") or "2024-10-21")
