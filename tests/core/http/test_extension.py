"""The two clients that ``ore.extensions.http`` builds from settings.

Only loopback is ever connected to: outside names are mapped onto the fixture with
HTTP_HOST_OVERRIDES, and private addresses are only checked against the policy.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from ipaddress import ip_address
from typing import Any

import pytest

from ore.config import ConfigError, Settings
from ore.core.http import AddressKind, BlockedAddress, ResponseTooLarge, TooManyRedirects
from ore.extensions.http import HttpClients, create_http_clients
from tests.core.http.conftest import FixtureServer

DISTRIBUTED = {
    "DB_TYPE": "postgresql",
    "REDIS_HOST": "127.0.0.1",
    "CELERY_BROKER_URL": "redis://127.0.0.1:6379/0",
}


def make_settings(**values: Any) -> Settings:
    return Settings(_env_file=None, SECRET_KEY="test-secret-key-0123456789abcdef", **values)


@asynccontextmanager
async def clients(**values: Any) -> AsyncIterator[HttpClients]:
    built = create_http_clients(make_settings(**values))
    try:
        yield built
    finally:
        await built.aclose()


async def test_user_client_is_strict_and_provider_client_allows_loopback_when_embedded(
    server: FixtureServer,
) -> None:
    async with clients() as http:
        with pytest.raises(BlockedAddress, match="SSRF_ALLOWED_HOSTS"):
            await http.user.request("GET", server.url())
        assert server.requests == []
        response = await http.provider.request("GET", server.url("/v1/models"))
        assert response.status_code == 200
        assert server.requests[0].path == "/v1/models"
        # The LAN and Tailscale-style overlays are fine for a model server in embedded mode.
        for address in ("192.168.1.10", "10.0.0.7", "fd00::7", "100.100.1.1"):
            assert http.provider.policy.refused_kind("ollama.lan", ip_address(address)) is None


async def test_provider_client_refuses_loopback_in_distributed_mode(server: FixtureServer) -> None:
    assert make_settings(**DISTRIBUTED).is_distributed
    async with clients(**DISTRIBUTED) as http:
        with pytest.raises(BlockedAddress, match="PROVIDER_ALLOWED_HOSTS"):
            await http.provider.request("GET", server.url("/v1/models"))
        assert http.provider.policy.refused_kind("h", ip_address("192.168.1.10")) is not None
    assert server.requests == []
    async with clients(**DISTRIBUTED, PROVIDER_ALLOWED_HOSTS="127.0.0.1") as http:
        response = await http.provider.request("GET", server.url("/v1/models"))
        assert response.status_code == 200
        # The provider allow-list does not open anything for user-supplied URLs.
        with pytest.raises(BlockedAddress):
            await http.user.request("GET", server.url())
    assert len(server.requests) == 1


@pytest.mark.parametrize("distributed", [False, True])
async def test_metadata_is_refused_for_both_clients(distributed: bool) -> None:
    mode = DISTRIBUTED if distributed else {}
    wide = "169.254.0.0/16"  # a range is not an explicit listing of the metadata address
    async with clients(**mode, SSRF_ALLOWED_HOSTS=wide, PROVIDER_ALLOWED_HOSTS=wide) as http:
        for outbound in (http.user, http.provider):
            # Checked, never requested: these clients connect for real.
            with pytest.raises(BlockedAddress) as caught:
                outbound.policy.check("169.254.169.254", ip_address("169.254.169.254"))
            assert caught.value.kind == AddressKind.METADATA.value
    exact = "169.254.169.254"
    async with clients(**mode, SSRF_ALLOWED_HOSTS=exact, PROVIDER_ALLOWED_HOSTS=exact) as http:
        for outbound in (http.user, http.provider):
            kind = outbound.policy.refused_kind("x", ip_address(exact))
            assert kind is None


async def test_host_overrides_and_allow_list_reach_the_fixture(server: FixtureServer) -> None:
    async with clients(
        HTTP_HOST_OVERRIDES="api.example.test=127.0.0.1,loopback.test=127.0.0.2",
        SSRF_ALLOWED_HOSTS="api.example.test",
    ) as http:
        response = await http.user.request("GET", server.url(host="api.example.test"))
        assert response.json()["headers"]["host"] == f"api.example.test:{server.port}"
        # A mapped name is judged by its address: loopback.test is not listed.
        with pytest.raises(BlockedAddress, match=r"'loopback.test' \(127\.0\.0\.2\)"):
            await http.user.request("GET", server.url(host="loopback.test"))
        redirect = server.url("/redirect", host="api.example.test")
        with pytest.raises(BlockedAddress):
            await http.user.request("GET", redirect, params={"to": server.url()})
    assert len(server.requests) == 2


async def test_caps_come_from_settings(server: FixtureServer) -> None:
    async with clients(
        HTTP_HOST_OVERRIDES="api.example.test=127.0.0.1",
        SSRF_ALLOWED_HOSTS="api.example.test",
        HTTP_REQUEST_NODE_MAX_BINARY_SIZE=100,
        HTTP_MAX_REDIRECTS=1,
        HTTP_REQUEST_MAX_READ_TIMEOUT=7,
    ) as http:
        big = server.url("/big?n=101", host="api.example.test")
        with pytest.raises(ResponseTooLarge, match="HTTP_REQUEST_NODE_MAX_BINARY_SIZE"):
            await http.user.request("GET", big)
        loop = server.url("/loop/0", host="api.example.test")
        with pytest.raises(TooManyRedirects, match="HTTP_MAX_REDIRECTS"):
            await http.user.request("GET", loop)
        timeout = http.user.httpx_client.timeout
        assert (timeout.read, timeout.connect, timeout.write) == (7, 10, 20)


async def test_ssrf_proxy_is_used_by_the_user_client_only(
    server: FixtureServer, proxy: FixtureServer
) -> None:
    async with clients(
        HTTP_HOST_OVERRIDES="api.example.test=127.0.0.1",
        SSRF_ALLOWED_HOSTS="api.example.test",
        SSRF_PROXY_HTTP_URL=proxy.url(""),
    ) as http:
        await http.user.request("GET", "http://api.example.test:8080/proxied")
        await http.provider.request("GET", server.url("/direct"))
    assert [seen.path for seen in proxy.requests] == ["http://api.example.test:8080/proxied"]
    assert [seen.path for seen in server.requests] == ["/direct"]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("SSRF_ALLOWED_HOSTS", "10.0.0.0/33"),
        ("PROVIDER_ALLOWED_HOSTS", "ollama:11434"),
        ("HTTP_HOST_OVERRIDES", "api.example.test"),
        ("SSRF_PROXY_HTTP_URL", "ftp://proxy.example"),
    ],
)
def test_malformed_settings_name_the_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        create_http_clients(make_settings(**{name: value}))
