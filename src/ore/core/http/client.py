"""The outbound HTTP client: guarded connections, manual redirects, capped bodies.

Use :meth:`OutboundHttpClient.request` for a whole (size-capped) response, or
:meth:`OutboundHttpClient.stream` with :func:`aiter_capped` to pass a body on without
holding it. SDKs that insist on an ``httpx.AsyncClient`` (openai, anthropic) get
:attr:`OutboundHttpClient.httpx_client`, whose every connection is checked by the same
policy.
"""

from __future__ import annotations

import codecs
import json as jsonlib
import ssl
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import Any

import httpcore
import httpx

from ore.core.http.errors import (
    InvalidOutboundUrl,
    OutboundConnectionError,
    OutboundTimeout,
    ResponseTooLarge,
    TooManyRedirects,
)
from ore.core.http.policy import AddressPolicy
from ore.core.http.resolver import Resolver
from ore.core.http.transport import GuardedTransport

# Headers that carry credentials for the origin the caller named, never for another one.
_CREDENTIAL_HEADERS = ("authorization", "proxy-authorization", "cookie")


@dataclass(frozen=True)
class ClientLimits:
    """Caps of one client. ``*_setting`` name what raises a cap, for messages."""

    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    write_timeout: float = 20.0
    max_response_size: int = 10 * 1024 * 1024
    max_redirects: int = 5
    size_setting: str = "the response size limit"
    redirects_setting: str = "the redirect limit"

    def timeout(self, requested: float | None = None) -> httpx.Timeout:
        """Per-phase timeouts: the configured maxima, lowered to ``requested`` if smaller."""

        def cap(maximum: float) -> float:
            return maximum if requested is None else min(requested, maximum)

        return httpx.Timeout(
            connect=cap(self.connect_timeout),
            read=cap(self.read_timeout),
            write=cap(self.write_timeout),
            pool=cap(self.connect_timeout),
        )


@dataclass(frozen=True)
class OutboundResponse:
    """A response read whole, within the size cap."""

    status_code: int
    headers: httpx.Headers
    content: bytes
    url: httpx.URL
    encoding: str | None = None

    @property
    def text(self) -> str:
        encoding = self.encoding or "utf-8"
        try:
            codecs.lookup(encoding)
        except LookupError:
            encoding = "utf-8"
        return self.content.decode(encoding, errors="replace")

    def json(self) -> Any:
        return jsonlib.loads(self.content)


@dataclass(frozen=True)
class _Body:
    content: bytes | str | None = None
    data: Mapping[str, Any] | None = None
    files: Any = None
    json: Any = None


def _origin(url: httpx.URL) -> str:
    """Scheme, host and port only: URLs may carry secrets in their path or query."""
    return f"{url.scheme}://{url.netloc.decode('ascii')}"


@contextmanager
def _translated_errors(url: httpx.URL) -> Iterator[None]:
    try:
        yield
    except httpx.TimeoutException as error:
        raise OutboundTimeout(
            f"{_origin(url)} did not answer in time ({type(error).__name__})."
        ) from error
    except httpx.HTTPError as error:
        raise OutboundConnectionError(f"Request to {_origin(url)} failed: {error}") from error


async def aiter_capped(
    response: httpx.Response, limit: int, size_setting: str = "the response size limit"
) -> AsyncIterator[bytes]:
    """The decoded body of a streamed response; raise :class:`ResponseTooLarge` as soon as
    it passes ``limit`` bytes (decoded, so a compressed bomb is caught too)."""

    def too_large() -> ResponseTooLarge:
        return ResponseTooLarge(
            f"The response from {_origin(response.url)} is larger than {limit} bytes; "
            f"{size_setting} sets the limit.",
            limit=limit,
        )

    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_large()
    size = 0
    chunks = response.aiter_bytes()
    while True:
        with _translated_errors(response.url):
            try:
                chunk = await anext(chunks)
            except StopAsyncIteration:
                return
        size += len(chunk)
        if size > limit:
            raise too_large()
        yield chunk


class OutboundHttpClient:
    """An HTTP client that reaches only what its :class:`AddressPolicy` admits."""

    def __init__(
        self,
        policy: AddressPolicy,
        *,
        limits: ClientLimits | None = None,
        resolver: Resolver | None = None,
        proxies: Mapping[str, str] | None = None,
        verify: ssl.SSLContext | bool = True,
        network_backend: httpcore.AsyncNetworkBackend | None = None,
    ) -> None:
        """``proxies`` maps a URL scheme (``http``, ``https``) to a proxy URL; ``verify``
        is True (system trust store) or an SSL context (a private CA, in tests);
        ``network_backend`` opens the sockets to checked addresses (default: anyio's)."""
        self.policy = policy
        self.limits = limits or ClientLimits()
        transport = GuardedTransport(
            policy,
            resolver or Resolver(),
            proxies=proxies,
            verify=verify,
            network_backend=network_backend,
        )
        self.httpx_client = httpx.AsyncClient(
            transport=transport,
            timeout=self.limits.timeout(),
            follow_redirects=True,
            max_redirects=self.limits.max_redirects,
            trust_env=False,
        )

    async def aclose(self) -> None:
        await self.httpx_client.aclose()

    async def request(
        self,
        method: str,
        url: str | httpx.URL,
        *,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, Any] | None = None,
        content: bytes | str | None = None,
        data: Mapping[str, Any] | None = None,
        files: Any = None,
        json: Any = None,
        timeout: float | None = None,
        follow_redirects: bool = True,
        max_size: int | None = None,
    ) -> OutboundResponse:
        """Send a request and read the whole body.

        ``max_size`` replaces the client's body cap for this call; ``timeout`` lowers the
        per-phase timeouts. Raises an :class:`~ore.core.http.errors.OutboundHttpError`.
        """
        limit = self.limits.max_response_size if max_size is None else max_size
        async with self.stream(
            method,
            url,
            headers=headers,
            params=params,
            content=content,
            data=data,
            files=files,
            json=json,
            timeout=timeout,
            follow_redirects=follow_redirects,
        ) as response:
            body = b"".join(
                [chunk async for chunk in aiter_capped(response, limit, self.limits.size_setting)]
            )
            return OutboundResponse(
                status_code=response.status_code,
                headers=response.headers,
                content=body,
                url=response.url,
                encoding=response.charset_encoding,
            )

    @asynccontextmanager
    async def stream(
        self,
        method: str,
        url: str | httpx.URL,
        *,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, Any] | None = None,
        content: bytes | str | None = None,
        data: Mapping[str, Any] | None = None,
        files: Any = None,
        json: Any = None,
        timeout: float | None = None,
        follow_redirects: bool = True,
    ) -> AsyncIterator[httpx.Response]:
        """Send a request, follow redirects, and yield the final response unread.

        Read its body with :func:`aiter_capped`; the response is closed on exit.
        """
        body = _Body(content=content, data=data, files=files, json=json)
        request = self._build(method, url, dict(headers or {}), params, body, timeout)
        response = await self._send(request, dict(headers or {}), body, timeout, follow_redirects)
        try:
            yield response
        finally:
            await response.aclose()

    def _build(
        self,
        method: str,
        url: str | httpx.URL,
        headers: dict[str, str],
        params: Mapping[str, Any] | None,
        body: _Body,
        timeout: float | None,
    ) -> httpx.Request:
        try:
            target = httpx.URL(url)
        except httpx.InvalidURL as error:
            raise InvalidOutboundUrl(f"Invalid URL: {error}") from error
        if target.scheme not in ("http", "https") or not target.host:
            raise InvalidOutboundUrl(
                f"Only absolute http:// and https:// URLs can be requested, not {_origin(target)}."
            )
        return self.httpx_client.build_request(
            method,
            target,
            headers=headers,
            params=params,
            content=body.content,
            data=body.data,
            files=body.files,
            json=body.json,
            timeout=self.limits.timeout(timeout),
        )

    async def _send(
        self,
        request: httpx.Request,
        headers: dict[str, str],
        body: _Body,
        timeout: float | None,
        follow_redirects: bool,
    ) -> httpx.Response:
        """Send, then follow redirects one hop at a time: each hop is a new request whose
        connection the transport checks again."""
        origin = (request.url.scheme, request.url.host, request.url.port)
        redirects = 0
        while True:
            with _translated_errors(request.url):
                response = await self.httpx_client.send(
                    request, stream=True, follow_redirects=False
                )
            if not (follow_redirects and response.has_redirect_location):
                return response
            await response.aclose()
            if redirects >= self.limits.max_redirects:
                raise TooManyRedirects(
                    f"{_origin(request.url)} redirected more than {self.limits.max_redirects} "
                    f"times; {self.limits.redirects_setting} sets the limit."
                )
            redirects += 1
            method, body = _redirect_method(response.status_code, request.method, body)
            target = request.url.join(response.headers["location"])
            if (target.scheme, target.host, target.port) != origin:
                # Leaving the origin the caller named: its credentials stay behind for good.
                headers = {k: v for k, v in headers.items() if k.lower() not in _CREDENTIAL_HEADERS}
            if body == _Body():
                headers = {k: v for k, v in headers.items() if k.lower() != "content-type"}
            request = self._build(method, target, headers, None, body, timeout)


def _redirect_method(status: int, method: str, body: _Body) -> tuple[str, _Body]:
    """The method and body of the next hop, as browsers (and httpx) do it: 303 turns
    everything but HEAD into GET, 301/302 turn POST into GET; 307/308 resend as is."""
    if (status == httpx.codes.SEE_OTHER and method != "HEAD") or (
        status in (httpx.codes.MOVED_PERMANENTLY, httpx.codes.FOUND) and method == "POST"
    ):
        return "GET", _Body()
    return method, body
