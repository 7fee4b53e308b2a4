"""The guarded client against a real server on loopback.

Refused addresses are refused before any connection: the loopback server records every
request (so "never arrived" is checked), and private addresses are only ever handed to a
backend that records connection attempts instead of making them.
"""

from __future__ import annotations

import json
import socket
from collections.abc import AsyncIterator, Iterable
from ipaddress import ip_address
from typing import Any

import httpcore
import pytest

from ore.core.http import (
    AddressPolicy,
    AllowList,
    BlockedAddress,
    ClientLimits,
    InvalidOutboundUrl,
    OutboundConnectionError,
    OutboundHttpClient,
    OutboundTimeout,
    Resolver,
    ResponseTooLarge,
    TooManyRedirects,
    aiter_capped,
    parse_host_overrides,
)
from ore.core.http.policy import IPAddress
from ore.core.http.transport import GuardedNetworkBackend
from tests.core.http.conftest import TLS_NAME, FixtureServer, Tls

OVERRIDES = parse_host_overrides(
    "api.example.test=127.0.0.1,other.example.test=127.0.0.1,internal.test=10.1.2.3,"
    "metadata.test=169.254.169.254"
)
STRICT = AddressPolicy(purpose="user-supplied URLs", allow_setting="SSRF_ALLOWED_HOSTS")


class LoopbackOnly(httpcore.AsyncNetworkBackend):
    """The socket opener under every test client: it connects to loopback only and records
    anything else, so even a broken guard could never send traffic off this machine."""

    def __init__(self) -> None:
        self.inner = httpcore.AnyIOBackend()
        self.off_machine: list[tuple[str, int]] = []

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        if not ip_address(host).is_loopback:
            self.off_machine.append((host, port))
            raise httpcore.ConnectError("test backend: only loopback is reachable")
        return await self.inner.connect_tcp(host, port, timeout, local_address, socket_options)

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


def make_client(
    allow: str = "",
    *,
    limits: ClientLimits | None = None,
    resolver: Resolver | None = None,
    backend: LoopbackOnly | None = None,
    **kwargs: Any,
) -> OutboundHttpClient:
    policy = AddressPolicy(
        allow_list=AllowList.parse(allow),
        purpose="user-supplied URLs",
        allow_setting="SSRF_ALLOWED_HOSTS",
    )
    return OutboundHttpClient(
        policy,
        limits=limits,
        resolver=resolver or Resolver(OVERRIDES),
        network_backend=backend or LoopbackOnly(),
        **kwargs,
    )


@pytest.fixture
async def client() -> AsyncIterator[OutboundHttpClient]:
    """Strict, except that the names api.example.test and other.example.test (mapped to
    loopback) are listed."""
    outbound = make_client("api.example.test,other.example.test")
    yield outbound
    await outbound.aclose()


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1",
        "localhost",
        "[::1]",
        "0.0.0.0",  # noqa: S104 (a target, not a bind)
        "2130706433",  # 127.0.0.1 as one number
        "127.1",
        "0x7f.0.0.1",
        "[::ffff:127.0.0.1]",
    ],
)
async def test_loopback_forms_are_refused_and_never_reached(
    client: OutboundHttpClient, server: FixtureServer, host: str
) -> None:
    with pytest.raises(BlockedAddress) as caught:
        await client.request("GET", server.url("/ok", host=host))
    assert "SSRF_ALLOWED_HOSTS" in caught.value.message
    assert server.requests == []


@pytest.mark.parametrize(
    "host",
    [
        "10.0.0.1",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "[fd00::1]",
        "[fe80::1]",
        "224.0.0.1",
        "internal.test",  # a name that resolves (by override) to 10.1.2.3
        "metadata.test",
    ],
)
async def test_internal_addresses_are_refused_before_any_connect(host: str) -> None:
    backend = LoopbackOnly()
    guarded = GuardedNetworkBackend(STRICT, Resolver(OVERRIDES), inner=backend)
    with pytest.raises(BlockedAddress):
        await guarded.connect_tcp(host.strip("[]"), 80, timeout=1)
    assert backend.off_machine == []
    # And through the whole client.
    opener = LoopbackOnly()
    outbound = make_client(backend=opener)
    try:
        with pytest.raises(BlockedAddress):
            await outbound.request("GET", f"http://{host}:9/")
    finally:
        await outbound.aclose()
    assert opener.off_machine == []


async def test_every_resolved_address_is_checked() -> None:
    class TwoAddresses(Resolver):
        async def resolve(self, host: str, port: int) -> list[IPAddress]:
            return [ip_address("93.184.216.34"), ip_address("10.0.0.1")]

    backend = LoopbackOnly()
    guarded = GuardedNetworkBackend(STRICT, TwoAddresses(), inner=backend)
    with pytest.raises(BlockedAddress, match=r"10\.0\.0\.1"):
        await guarded.connect_tcp("mixed.test", 80, timeout=1)
    assert backend.off_machine == []


async def test_allow_listed_loopback_is_reached(server: FixtureServer) -> None:
    outbound = make_client("127.0.0.1")
    try:
        response = await outbound.request("GET", server.url("/ok?x=1"))
    finally:
        await outbound.aclose()
    assert response.status_code == 200
    assert response.json()["path"] == "/ok?x=1"
    assert len(server.requests) == 1


async def test_override_maps_a_public_looking_name_to_the_fixture(
    client: OutboundHttpClient, server: FixtureServer
) -> None:
    response = await client.request(
        "POST", server.url("/echo", host="api.example.test"), json={"a": 1}
    )
    assert response.status_code == 200
    echo = response.json()
    # The Host header keeps the name; the connection went to the mapped address.
    assert echo["headers"]["host"] == f"api.example.test:{server.port}"
    assert json.loads(echo["body"]) == {"a": 1}


async def test_override_without_allow_list_is_still_judged_by_address(
    server: FixtureServer,
) -> None:
    outbound = make_client()
    try:
        with pytest.raises(BlockedAddress, match=r"'api.example.test' \(127.0.0.1\)"):
            await outbound.request("GET", server.url(host="api.example.test"))
    finally:
        await outbound.aclose()
    assert server.requests == []


async def test_resolution_happens_once_per_connection(server: FixtureServer) -> None:
    """DNS rebinding: the first answer is checked and used; later answers never matter."""

    class Rebinding(Resolver):
        def __init__(self) -> None:
            super().__init__()
            self.calls = 0

        async def resolve(self, host: str, port: int) -> list[IPAddress]:
            self.calls += 1
            # 127.0.0.2 is refused by the policy and nothing listens there.
            return [ip_address("127.0.0.1" if self.calls == 1 else "127.0.0.2")]

    resolver = Rebinding()
    outbound = make_client("127.0.0.1", resolver=resolver)
    try:
        response = await outbound.request("GET", server.url(host="rebind.test"))
    finally:
        await outbound.aclose()
    assert response.status_code == 200
    assert resolver.calls == 1


@pytest.mark.parametrize(
    "target",
    [
        "http://127.0.0.1:{port}/ok",
        "http://localhost:{port}/ok",
        "http://[::1]:{port}/ok",
        "http://169.254.169.254/latest/meta-data/",
        "http://internal.test/",
    ],
)
async def test_redirect_to_an_internal_address_is_refused(
    client: OutboundHttpClient, server: FixtureServer, target: str
) -> None:
    start = server.url("/redirect", host="api.example.test")
    location = target.format(port=server.port)
    with pytest.raises(BlockedAddress):
        await client.request("GET", start, params={"to": location})
    # Only the allowed first hop arrived.
    assert [seen.path.split("?")[0] for seen in server.requests] == ["/redirect"]


async def test_redirect_to_an_allowed_host_is_followed(
    client: OutboundHttpClient, server: FixtureServer
) -> None:
    target = server.url("/final", host="other.example.test")
    response = await client.request(
        "POST",
        server.url("/redirect", host="api.example.test"),
        params={"to": target, "status": "303"},
        headers={"Authorization": "Bearer secret", "X-Kept": "1"},
        content=b"payload",
    )
    assert response.status_code == 200
    assert str(response.url) == target
    final = server.requests[-1]
    # 303 turns POST into a bodyless GET; credentials stay with the origin that was named.
    assert (final.method, final.body) == ("GET", b"")
    assert "authorization" not in final.headers
    assert final.headers["x-kept"] == "1"
    assert server.requests[0].headers["authorization"] == "Bearer secret"


async def test_307_resends_method_and_body(
    client: OutboundHttpClient, server: FixtureServer
) -> None:
    target = server.url("/final", host="api.example.test")
    await client.request(
        "PUT",
        server.url("/redirect", host="api.example.test"),
        params={"to": target, "status": "307"},
        content=b"again",
    )
    final = server.requests[-1]
    assert (final.method, final.body) == ("PUT", b"again")


async def test_redirect_cap(server: FixtureServer) -> None:
    outbound = make_client(
        "api.example.test",
        limits=ClientLimits(max_redirects=3, redirects_setting="HTTP_MAX_REDIRECTS"),
    )
    try:
        with pytest.raises(TooManyRedirects, match="more than 3 times; HTTP_MAX_REDIRECTS"):
            await outbound.request("GET", server.url("/loop/0", host="api.example.test"))
        assert len(server.requests) == 4  # the first request and three redirects
        not_followed = await outbound.request(
            "GET", server.url("/loop/0", host="api.example.test"), follow_redirects=False
        )
        assert not_followed.status_code == 302
    finally:
        await outbound.aclose()


async def test_redirect_within_the_cap_succeeds(server: FixtureServer) -> None:
    outbound = make_client("api.example.test", limits=ClientLimits(max_redirects=2))
    try:
        inner = server.url("/redirect?to=/done", host="api.example.test")
        response = await outbound.request(
            "GET", server.url("/redirect", host="api.example.test"), params={"to": inner}
        )
    finally:
        await outbound.aclose()
    assert response.status_code == 200
    assert response.json()["path"] == "/done"


@pytest.mark.parametrize("route", ["/big", "/chunked", "/gzip"])
async def test_body_cap(server: FixtureServer, route: str) -> None:
    outbound = make_client(
        "api.example.test",
        limits=ClientLimits(
            max_response_size=1000, size_setting="HTTP_REQUEST_NODE_MAX_BINARY_SIZE"
        ),
    )
    url = server.url(route, host="api.example.test")
    try:
        exact = await outbound.request("GET", url, params={"n": 1000})
        assert len(exact.content) == 1000
        with pytest.raises(ResponseTooLarge, match="1000 bytes; HTTP_REQUEST_NODE_MAX_BINARY_SIZE"):
            await outbound.request("GET", url, params={"n": 1001})
        # A caller may set its own cap for one request.
        bigger = await outbound.request("GET", url, params={"n": 5000}, max_size=5000)
        assert len(bigger.content) == 5000
    finally:
        await outbound.aclose()


async def test_stream_with_capped_reading(
    client: OutboundHttpClient, server: FixtureServer
) -> None:
    url = server.url("/chunked", host="api.example.test")
    async with client.stream("GET", url, params={"n": 3000}) as response:
        received = [chunk async for chunk in aiter_capped(response, 3000)]
    assert sum(map(len, received)) == 3000
    with pytest.raises(ResponseTooLarge):
        async with client.stream("GET", url, params={"n": 3000}) as response:
            async for _ in aiter_capped(response, 2999):
                pass


async def test_read_timeout(server: FixtureServer) -> None:
    outbound = make_client("api.example.test", limits=ClientLimits(read_timeout=0.2))
    try:
        with pytest.raises(OutboundTimeout, match="did not answer in time"):
            await outbound.request("GET", server.url("/slow?s=1", host="api.example.test"))
    finally:
        await outbound.aclose()


async def test_unreachable_allowed_host_is_a_connection_error() -> None:
    class NoAnswer(Resolver):
        async def resolve(self, host: str, port: int) -> list[IPAddress]:
            if host == "127.0.0.1":
                return [ip_address(host)]
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    outbound = make_client("127.0.0.1", resolver=NoAnswer())
    try:
        # Port 1 on loopback: allowed by the policy, refused by the kernel.
        with pytest.raises(OutboundConnectionError):
            await outbound.request("GET", "http://127.0.0.1:1/")
        with pytest.raises(OutboundConnectionError, match="could not resolve"):
            await outbound.request("GET", "http://no-such-host.test/")
    finally:
        await outbound.aclose()


@pytest.mark.parametrize(
    "url", ["ftp://api.example.test/", "/relative/path", "file:///etc/passwd", "http://"]
)
async def test_only_absolute_http_urls(client: OutboundHttpClient, url: str) -> None:
    with pytest.raises(InvalidOutboundUrl):
        await client.request("GET", url)


async def test_tls_verifies_the_original_name(tls: Tls, tls_server: FixtureServer) -> None:
    outbound = make_client(f"{TLS_NAME},127.0.0.1", verify=tls.client_context)
    try:
        response = await outbound.request("GET", tls_server.url("/ok", host=TLS_NAME))
        assert response.status_code == 200
        assert response.json()["headers"]["host"] == f"{TLS_NAME}:{tls_server.port}"
        # The certificate is for the name only: the bare address fails verification.
        with pytest.raises(OutboundConnectionError, match="CERTIFICATE_VERIFY_FAILED"):
            await outbound.request("GET", tls_server.url("/ok"))
    finally:
        await outbound.aclose()


async def test_sdk_client_is_guarded_too(server: FixtureServer) -> None:
    """`httpx_client` (handed to SDKs) checks every connection, redirects included."""
    outbound = make_client("api.example.test")
    sdk = outbound.httpx_client
    try:
        assert (await sdk.get(server.url(host="api.example.test"))).status_code == 200
        with pytest.raises(BlockedAddress):
            await sdk.get(server.url())
        bounce = server.url("/redirect", host="api.example.test")
        with pytest.raises(BlockedAddress):
            await sdk.get(bounce, params={"to": server.url("/ok")})
    finally:
        await outbound.aclose()
    assert [seen.path.split("?")[0] for seen in server.requests] == ["/ok", "/redirect"]


async def test_proxy_does_the_connecting_after_the_target_is_checked(
    server: FixtureServer, proxy: FixtureServer
) -> None:
    # The proxy itself sits on loopback, which the policy refuses: the proxy is operator
    # configuration and is not judged; the target of each request is.
    outbound = make_client("api.example.test", proxies={"http": proxy.url("")})
    try:
        response = await outbound.request("GET", "http://api.example.test:8080/via-proxy")
        assert response.status_code == 200
        with pytest.raises(BlockedAddress):
            await outbound.request("GET", "http://internal.test/")
        with pytest.raises(BlockedAddress):
            await outbound.request("GET", "http://127.0.0.1:8080/")
        with pytest.raises(BlockedAddress):
            await outbound.request(
                "GET",
                "http://api.example.test:8080/redirect",
                params={"to": "http://169.254.169.254/"},
            )
    finally:
        await outbound.aclose()
    assert [seen.path.split("?")[0] for seen in proxy.requests] == [
        "http://api.example.test:8080/via-proxy",
        "http://api.example.test:8080/redirect",
    ]
    assert server.requests == []
