"""The outbound HTTP clients: one for user-supplied URLs, one for model-provider base URLs.

Both are :class:`~ore.core.http.OutboundHttpClient` instances; this module only turns
settings into their policies (DESIGN.md section 4, "All outbound HTTP goes through one
client"):

- ``user``: HTTP nodes and tools, remote files, DSL imports from a URL. Only public
  addresses, plus SSRF_ALLOWED_HOSTS; goes through SSRF_PROXY_HTTP(S)_URL when set.
- ``provider``: model-provider base URLs, set by workspace admins. Embedded mode also
  admits loopback, private and CGNAT addresses (Ollama or vLLM on this machine or the
  LAN); distributed mode admits them only through PROVIDER_ALLOWED_HOSTS. It connects
  directly: the SSRF proxy is for user-supplied URLs.

Cloud metadata addresses are refused by both unless an allow-list names them exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from ore.config import Settings
from ore.config.settings import ConfigError
from ore.core.http import (
    LOCAL_NETWORK_KINDS,
    AddressPolicy,
    AllowList,
    ClientLimits,
    OutboundHttpClient,
    Resolver,
    parse_host_overrides,
)


@dataclass
class HttpClients:
    user: OutboundHttpClient
    provider: OutboundHttpClient

    async def aclose(self) -> None:
        await self.user.aclose()
        await self.provider.aclose()


def _allow_list(settings: Settings, name: str) -> AllowList:
    try:
        return AllowList.parse(getattr(settings, name))
    except ValueError as error:
        raise ConfigError(f"{name}: {error}") from error


def create_http_clients(settings: Settings) -> HttpClients:
    """Build both clients from settings; raise ConfigError naming a malformed list."""
    try:
        overrides = parse_host_overrides(settings.HTTP_HOST_OVERRIDES)
    except ValueError as error:
        raise ConfigError(f"HTTP_HOST_OVERRIDES: {error}") from error
    limits = ClientLimits(
        connect_timeout=settings.HTTP_REQUEST_MAX_CONNECT_TIMEOUT,
        read_timeout=settings.HTTP_REQUEST_MAX_READ_TIMEOUT,
        write_timeout=settings.HTTP_REQUEST_MAX_WRITE_TIMEOUT,
        max_response_size=settings.HTTP_REQUEST_NODE_MAX_BINARY_SIZE,
        max_redirects=settings.HTTP_MAX_REDIRECTS,
        size_setting="HTTP_REQUEST_NODE_MAX_BINARY_SIZE",
        redirects_setting="HTTP_MAX_REDIRECTS",
    )
    user_policy = AddressPolicy(
        allow_list=_allow_list(settings, "SSRF_ALLOWED_HOSTS"),
        purpose="user-supplied URLs",
        allow_setting="SSRF_ALLOWED_HOSTS",
    )
    provider_policy = AddressPolicy(
        allowed_kinds=frozenset() if settings.is_distributed else LOCAL_NETWORK_KINDS,
        allow_list=_allow_list(settings, "PROVIDER_ALLOWED_HOSTS"),
        purpose="model-provider base URLs in distributed mode"
        if settings.is_distributed
        else "model-provider base URLs",
        allow_setting="PROVIDER_ALLOWED_HOSTS",
    )
    proxies = {"http": settings.SSRF_PROXY_HTTP_URL, "https": settings.SSRF_PROXY_HTTPS_URL}
    try:
        user = OutboundHttpClient(
            user_policy, limits=limits, resolver=Resolver(overrides), proxies=proxies
        )
    except (ValueError, httpx.InvalidURL) as error:
        raise ConfigError(f"SSRF_PROXY_HTTP_URL / SSRF_PROXY_HTTPS_URL: {error}") from error
    provider = OutboundHttpClient(provider_policy, limits=limits, resolver=Resolver(overrides))
    return HttpClients(user=user, provider=provider)
