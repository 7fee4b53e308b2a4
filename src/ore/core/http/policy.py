"""Which addresses outbound HTTP may reach.

The policy judges resolved IP addresses, never URL text: ``http://2130706433/``,
``http://127.1/`` and a DNS name pointing at ``10.0.0.1`` all end up as the address they
resolve to. An address is classified into an :class:`AddressKind` (or none, for the public
internet); a policy admits public addresses, the kinds it was told to allow, and whatever
its :class:`AllowList` names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum
from ipaddress import (
    IPv4Address,
    IPv4Network,
    IPv6Address,
    IPv6Network,
    ip_address,
    ip_network,
)

from ore.core.http.errors import BlockedAddress

IPAddress = IPv4Address | IPv6Address
IPNetwork = IPv4Network | IPv6Network


class AddressKind(StrEnum):
    """Why an address is not on the public internet; the value reads well in messages."""

    METADATA = "cloud metadata"
    UNSPECIFIED = "unspecified"
    LOOPBACK = "loopback"
    PRIVATE = "private network"
    SHARED = "carrier-grade NAT (100.64.0.0/10)"
    LINK_LOCAL = "link-local"
    MULTICAST = "multicast"
    RESERVED = "reserved or special-purpose"


# What embedded mode lets model-provider base URLs reach: a model server on this machine,
# the LAN or a Tailscale-style overlay (which lives in 100.64.0.0/10).
LOCAL_NETWORK_KINDS = frozenset({AddressKind.LOOPBACK, AddressKind.PRIVATE, AddressKind.SHARED})

# Instance metadata services hand out cloud credentials: refused even where their range
# (link-local, CGNAT, ULA) is allowed, unless the allow-list names them exactly.
_METADATA = frozenset(
    {
        ip_address("169.254.169.254"),  # AWS, GCP, Azure, Oracle, DigitalOcean, OpenStack
        ip_address("169.254.170.2"),  # AWS ECS task credentials
        ip_address("100.100.100.200"),  # Alibaba Cloud
        ip_address("fd00:ec2::254"),  # AWS over IPv6
    }
)

_V4_KINDS: tuple[tuple[IPv4Network, AddressKind], ...] = tuple(
    (IPv4Network(net), kind)
    for net, kind in (
        ("0.0.0.0/8", AddressKind.UNSPECIFIED),
        ("127.0.0.0/8", AddressKind.LOOPBACK),
        ("10.0.0.0/8", AddressKind.PRIVATE),
        ("172.16.0.0/12", AddressKind.PRIVATE),
        ("192.168.0.0/16", AddressKind.PRIVATE),
        ("100.64.0.0/10", AddressKind.SHARED),
        ("169.254.0.0/16", AddressKind.LINK_LOCAL),
        ("224.0.0.0/4", AddressKind.MULTICAST),
        ("240.0.0.0/4", AddressKind.RESERVED),  # includes 255.255.255.255
        ("192.0.0.0/24", AddressKind.RESERVED),
        ("192.0.2.0/24", AddressKind.RESERVED),
        ("192.88.99.0/24", AddressKind.RESERVED),
        ("198.18.0.0/15", AddressKind.RESERVED),
        ("198.51.100.0/24", AddressKind.RESERVED),
        ("203.0.113.0/24", AddressKind.RESERVED),
    )
)

_V6_KINDS: tuple[tuple[IPv6Network, AddressKind], ...] = tuple(
    (IPv6Network(net), kind)
    for net, kind in (
        ("::/128", AddressKind.UNSPECIFIED),
        ("::1/128", AddressKind.LOOPBACK),
        ("::/96", AddressKind.RESERVED),  # deprecated IPv4-compatible form
        ("fc00::/7", AddressKind.PRIVATE),  # unique local addresses
        ("fec0::/10", AddressKind.PRIVATE),  # deprecated site-local
        ("fe80::/10", AddressKind.LINK_LOCAL),
        ("ff00::/8", AddressKind.MULTICAST),
        ("100::/64", AddressKind.RESERVED),  # discard prefix
        ("2001::/32", AddressKind.RESERVED),  # Teredo: the client address is obfuscated
        ("2001:db8::/32", AddressKind.RESERVED),  # documentation
        ("64:ff9b:1::/48", AddressKind.RESERVED),  # local-use NAT64
    )
)

_NAT64 = IPv6Network("64:ff9b::/96")


def embedded_ipv4(address: IPAddress) -> IPv4Address | None:
    """The IPv4 address an IPv6 address stands for (mapped, NAT64 or 6to4), if any."""
    if isinstance(address, IPv4Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in _NAT64:
        return IPv4Address(int(address) & 0xFFFFFFFF)
    return address.sixtofour


def classify(address: IPAddress) -> AddressKind | None:
    """The kind of a non-public address, or None for an address on the public internet."""
    if address in _METADATA:
        return AddressKind.METADATA
    inner = embedded_ipv4(address)
    if inner is not None:
        return classify(inner)
    table: tuple[tuple[IPNetwork, AddressKind], ...] = (
        _V4_KINDS if isinstance(address, IPv4Address) else _V6_KINDS
    )
    for network, kind in table:
        if address in network:
            return kind
    # Anything else IANA does not list as globally reachable (new special ranges included).
    return None if address.is_global else AddressKind.RESERVED


def parse_ip(text: str) -> IPAddress | None:
    """An IP address from a host as written in a URL or a setting (``[::1]`` too), or None."""
    text = text.strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    try:
        return ip_address(text)
    except ValueError:
        return None


def normalize_host(host: str) -> str:
    return host.strip().rstrip(".").lower()


_HOST_RE = re.compile(r"^(\*\.|\.)?[a-z0-9_]([a-z0-9_.-]*[a-z0-9_])?$")


@dataclass(frozen=True)
class AllowList:
    """Hosts and networks admitted although internal.

    Entries are host names (``ollama.lan``), suffixes (``.corp.example`` or
    ``*.corp.example``), addresses (``127.0.0.1``, ``[::1]``) or CIDRs (``10.0.0.0/8``).
    """

    hosts: frozenset[str] = frozenset()
    suffixes: tuple[str, ...] = ()
    networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def parse(cls, text: str) -> AllowList:
        """Parse a comma- or space-separated list; raise ValueError naming a bad entry."""
        hosts: set[str] = set()
        suffixes: list[str] = []
        networks: list[IPNetwork] = []
        for raw in re.split(r"[,\s]+", text):
            entry = normalize_host(raw)
            if not entry:
                continue
            address = parse_ip(entry)
            if address is not None:
                networks.append(ip_network(address))
            elif "/" in entry:
                try:
                    networks.append(ip_network(entry, strict=False))
                except ValueError as error:
                    raise ValueError(f"{raw!r} is not a valid CIDR") from error
            elif not _HOST_RE.match(entry):
                raise ValueError(f"{raw!r} is not a host name, address or CIDR (no ports)")
            elif entry.startswith(("*.", ".")):
                suffixes.append("." + entry.split(".", 1)[1])
            else:
                hosts.add(entry)
        return cls(frozenset(hosts), tuple(suffixes), tuple(networks))

    def admits(self, host: str, address: IPAddress, kind: AddressKind) -> bool:
        name = normalize_host(host)
        if name in self.hosts or name.endswith(self.suffixes):
            return True
        candidates = [address]
        inner = embedded_ipv4(address)
        if inner is not None:
            candidates.append(inner)
        for network in self.networks:
            # A metadata address needs an entry naming it alone, not a range around it.
            if kind is AddressKind.METADATA and network.num_addresses != 1:
                continue
            if any(candidate in network for candidate in candidates):
                return True
        return False


@dataclass(frozen=True)
class AddressPolicy:
    """Decides whether one resolved address of a host may be connected to.

    ``purpose`` and ``allow_setting`` only shape messages, e.g. "user-supplied URLs" and
    "SSRF_ALLOWED_HOSTS", so that a refusal says which setting would admit the address.
    """

    allowed_kinds: frozenset[AddressKind] = frozenset()
    allow_list: AllowList = field(default_factory=AllowList)
    purpose: str = "outbound requests"
    allow_setting: str = "the allow-list"

    def __post_init__(self) -> None:
        if AddressKind.METADATA in self.allowed_kinds:
            raise ValueError("metadata addresses can only be admitted one by one")

    def refused_kind(self, host: str, address: IPAddress) -> AddressKind | None:
        """Why ``address`` (which ``host`` resolved to) is refused, or None if admitted."""
        kind = classify(address)
        if kind is None or kind in self.allowed_kinds:
            return None
        return None if self.allow_list.admits(host, address, kind) else kind

    def check(self, host: str, address: IPAddress) -> None:
        """Raise :class:`BlockedAddress` unless ``address`` (which ``host`` resolved to) may
        be reached."""
        kind = self.refused_kind(host, address)
        if kind is None:
            return
        target = str(address) if parse_ip(host) == address else f"{host!r} ({address})"
        how = (
            "add that exact host or address (a range does not count) to"
            if kind is AddressKind.METADATA
            else "add the host, address or a CIDR containing it to"
        )
        raise BlockedAddress(
            f"Refused to connect to {target}: it is a {kind} address, and {self.purpose} may "
            f"not reach those. To allow it, {how} {self.allow_setting}.",
            host=host,
            address=str(address),
            kind=kind.value,
        )
