"""The httpx transport that enforces an :class:`AddressPolicy` on every connection.

Direct connections go through :class:`GuardedNetworkBackend`, an httpcore network backend
that resolves the host once, checks every address, and opens the socket to a checked
address. Nothing resolves the name again between the check and the connect, so DNS
rebinding cannot slip an internal address in, and every redirect hop that opens a new
connection is checked the same way. The URL is untouched, so the Host header, TLS SNI and
certificate verification all use the original name.

When a proxy is configured for a scheme, the proxy opens the connection to the target; the
target's resolution is still checked here before the request is handed to the proxy.
"""

from __future__ import annotations

import ssl
import typing
from collections.abc import Iterable, Mapping

import anyio
import httpcore
import httpx

from ore.core.http.policy import AddressPolicy, IPAddress
from ore.core.http.resolver import Resolver

SocketOption = (
    tuple[int, int, int] | tuple[int, int, bytes | bytearray] | tuple[int, int, None, int]
)


async def resolve_checked(
    policy: AddressPolicy, resolver: Resolver, host: str, port: int, timeout: float | None
) -> list[IPAddress]:
    """Resolve ``host`` and check every address; any refused address refuses the host.

    Raises :class:`~ore.core.http.errors.BlockedAddress`, ``TimeoutError`` or ``OSError``.
    """
    with anyio.fail_after(timeout):
        addresses = await resolver.resolve(host, port)
    for address in addresses:
        policy.check(host, address)
    return addresses


class GuardedNetworkBackend(httpcore.AsyncNetworkBackend):
    """Opens TCP connections only to addresses the policy admits."""

    def __init__(
        self,
        policy: AddressPolicy,
        resolver: Resolver,
        inner: httpcore.AsyncNetworkBackend | None = None,
    ) -> None:
        self._policy = policy
        self._resolver = resolver
        self._inner = inner or httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[SocketOption] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        deadline = None if timeout is None else anyio.current_time() + timeout
        try:
            addresses = await resolve_checked(self._policy, self._resolver, host, port, timeout)
        except TimeoutError as error:
            raise httpcore.ConnectTimeout(f"resolving {host!r} timed out") from error
        except OSError as error:
            raise httpcore.ConnectError(f"could not resolve {host!r}: {error}") from error
        last_error: Exception | None = None
        for address in addresses:
            remaining = None if deadline is None else max(deadline - anyio.current_time(), 0)
            try:
                return await self._inner.connect_tcp(
                    str(address),
                    port,
                    timeout=remaining,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as error:
                last_error = error
        raise last_error or httpcore.ConnectError(f"{host!r} has no address")

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[SocketOption] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("outbound HTTP does not use unix sockets")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class _DirectTransport(httpx.AsyncHTTPTransport):
    """httpx's own transport on a connection pool that uses the guarded backend."""

    def __init__(
        self,
        backend: httpcore.AsyncNetworkBackend,
        ssl_context: ssl.SSLContext,
        limits: httpx.Limits,
    ) -> None:
        super().__init__(verify=ssl_context, limits=limits, trust_env=False)
        # httpx has no parameter for the network backend, so the pool it built is replaced
        # by an equal one that has it (tests fail loudly if httpx stops using `_pool`).
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl_context,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=backend,
        )


class GuardedTransport(httpx.AsyncBaseTransport):
    """Sends each request directly (checked at connect) or through the scheme's proxy
    (target checked before sending)."""

    def __init__(
        self,
        policy: AddressPolicy,
        resolver: Resolver,
        *,
        proxies: Mapping[str, str] | None = None,
        verify: ssl.SSLContext | bool = True,
        limits: httpx.Limits | None = None,
        network_backend: httpcore.AsyncNetworkBackend | None = None,
    ) -> None:
        limits = limits or httpx.Limits()
        # One context for every pool: loading the trust store takes tens of milliseconds.
        ssl_context = (
            verify
            if isinstance(verify, ssl.SSLContext)
            else httpx.create_ssl_context(verify=verify, trust_env=False)
        )
        self._policy = policy
        self._resolver = resolver
        self._direct = _DirectTransport(
            GuardedNetworkBackend(policy, resolver, network_backend), ssl_context, limits
        )
        self._proxied: dict[str, httpx.AsyncHTTPTransport] = {
            scheme: httpx.AsyncHTTPTransport(
                proxy=url, verify=ssl_context, limits=limits, trust_env=False
            )
            for scheme, url in (proxies or {}).items()
            if url
        }

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        proxied = self._proxied.get(request.url.scheme)
        if proxied is None:
            return await self._direct.handle_async_request(request)
        await self._check_target(request)
        return await proxied.handle_async_request(request)

    async def _check_target(self, request: httpx.Request) -> None:
        timeouts = typing.cast(dict[str, float | None], request.extensions.get("timeout", {}))
        host = request.url.raw_host.decode("ascii")  # IDNA-encoded, as httpcore sees it
        port = request.url.port or (443 if request.url.scheme == "https" else 80)
        try:
            await resolve_checked(self._policy, self._resolver, host, port, timeouts.get("connect"))
        except TimeoutError as error:
            raise httpx.ConnectTimeout(f"resolving {host!r} timed out", request=request) from error
        except OSError as error:
            raise httpx.ConnectError(
                f"could not resolve {host!r}: {error}", request=request
            ) from error

    async def aclose(self) -> None:
        await self._direct.aclose()
        for transport in self._proxied.values():
            await transport.aclose()
