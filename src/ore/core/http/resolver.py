"""Host name resolution for the outbound client, with a fixed host-to-address map.

The map (``HTTP_HOST_OVERRIDES``) answers without DNS, for split-horizon setups and for
tests that point an outside name at a loopback fixture. The SSRF policy judges the mapped
address like any other.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Mapping

import anyio

from ore.core.http.policy import IPAddress, normalize_host, parse_ip


def parse_host_overrides(text: str) -> dict[str, IPAddress]:
    """Parse ``host=ip,host2=ip2``; raise ValueError naming a bad entry."""
    overrides: dict[str, IPAddress] = {}
    for entry in re.split(r"[,\s]+", text):
        if not entry:
            continue
        host, sep, target = entry.partition("=")
        address = parse_ip(target)
        if not sep or not normalize_host(host) or address is None:
            raise ValueError(f"{entry!r} is not host=ip (e.g. api.example.test=127.0.0.1)")
        overrides[normalize_host(host)] = address
    return overrides


class Resolver:
    """Resolves a host to the addresses a connection may use, overrides first."""

    def __init__(self, overrides: Mapping[str, IPAddress] | None = None) -> None:
        self._overrides = {normalize_host(k): v for k, v in (overrides or {}).items()}

    async def resolve(self, host: str, port: int) -> list[IPAddress]:
        """Every address of ``host``, in the order to try; raise OSError if there is none."""
        mapped = self._overrides.get(normalize_host(host))
        if mapped is not None:
            return [mapped]
        literal = parse_ip(host)
        if literal is not None:
            return [literal]
        infos = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        addresses: list[IPAddress] = []
        for _family, _type, _proto, _name, sockaddr in infos:
            address = parse_ip(str(sockaddr[0]))
            if address is not None and address not in addresses:
                addresses.append(address)
        if not addresses:
            raise OSError(f"{host!r} has no IP address")
        return addresses
