"""The address policy on its own: classification, allow-lists, messages, host overrides."""

from __future__ import annotations

from ipaddress import ip_address

import pytest

from ore.core.http import (
    LOCAL_NETWORK_KINDS,
    AddressKind,
    AddressPolicy,
    AllowList,
    BlockedAddress,
    classify,
    parse_host_overrides,
)

K = AddressKind


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("127.0.0.1", K.LOOPBACK),
        ("127.255.0.9", K.LOOPBACK),
        ("10.0.0.1", K.PRIVATE),
        ("172.16.0.1", K.PRIVATE),
        ("172.31.255.255", K.PRIVATE),
        ("192.168.1.1", K.PRIVATE),
        ("169.254.169.254", K.METADATA),
        ("169.254.170.2", K.METADATA),
        ("100.100.100.200", K.METADATA),
        ("169.254.1.1", K.LINK_LOCAL),
        ("100.64.0.1", K.SHARED),
        ("0.0.0.0", K.UNSPECIFIED),  # noqa: S104 (a target, not a bind)
        ("0.1.2.3", K.UNSPECIFIED),
        ("224.0.0.1", K.MULTICAST),
        ("255.255.255.255", K.RESERVED),
        ("240.0.0.1", K.RESERVED),
        ("192.0.2.10", K.RESERVED),
        ("198.18.0.1", K.RESERVED),
        ("::1", K.LOOPBACK),
        ("::", K.UNSPECIFIED),
        ("fd00::1", K.PRIVATE),
        ("fc00::1", K.PRIVATE),
        ("fd00:ec2::254", K.METADATA),
        ("fe80::1", K.LINK_LOCAL),
        ("ff02::1", K.MULTICAST),
        ("2001:db8::1", K.RESERVED),
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2", K.RESERVED),  # Teredo
        ("::7f00:1", K.RESERVED),  # IPv4-compatible
        # IPv4 inside IPv6: judged by the IPv4 address it stands for.
        ("::ffff:127.0.0.1", K.LOOPBACK),
        ("::ffff:10.0.0.1", K.PRIVATE),
        ("::ffff:169.254.169.254", K.METADATA),
        ("64:ff9b::10.0.0.1", K.PRIVATE),  # NAT64
        ("64:ff9b::169.254.169.254", K.METADATA),
        ("64:ff9b:1::1", K.RESERVED),
        ("2002:7f00:1::1", K.LOOPBACK),  # 6to4 of 127.0.0.1
        ("2002:c0a8:101::1", K.PRIVATE),  # 6to4 of 192.168.1.1
    ],
)
def test_internal_addresses_are_classified(address: str, kind: AddressKind) -> None:
    assert classify(ip_address(address)) is kind


@pytest.mark.parametrize(
    "address",
    [
        "93.184.216.34",
        "8.8.8.8",
        "1.1.1.1",
        "2606:4700:4700::1111",
        "::ffff:8.8.8.8",
        "64:ff9b::8.8.8.8",
    ],
)
def test_public_addresses_have_no_kind(address: str) -> None:
    assert classify(ip_address(address)) is None


def test_strict_policy_refuses_with_a_message_naming_the_setting() -> None:
    policy = AddressPolicy(purpose="user-supplied URLs", allow_setting="SSRF_ALLOWED_HOSTS")
    with pytest.raises(BlockedAddress) as caught:
        policy.check("internal.test", ip_address("10.1.2.3"))
    error = caught.value
    assert (error.host, error.address, error.kind) == (
        "internal.test",
        "10.1.2.3",
        "private network",
    )
    assert "'internal.test' (10.1.2.3)" in error.message
    assert "SSRF_ALLOWED_HOSTS" in error.message
    assert error.status == 400
    policy.check("example.com", ip_address("93.184.216.34"))


def test_allow_list_entries() -> None:
    allow = AllowList.parse("ollama.lan, .corp.example *.svc.test 10.0.0.0/8,[::1] 192.168.1.7")
    policy = AddressPolicy(allow_list=allow)
    admitted = [
        ("ollama.lan", "192.168.5.5"),
        ("OLLAMA.LAN.", "192.168.5.5"),
        ("a.corp.example", "127.0.0.1"),
        ("x.y.svc.test", "172.16.0.9"),
        ("anything", "10.9.9.9"),
        ("anything", "::1"),
        ("anything", "::ffff:10.1.1.1"),
        ("anything", "192.168.1.7"),
    ]
    for host, address in admitted:
        assert policy.refused_kind(host, ip_address(address)) is None, (host, address)
    refused = [
        ("corp.example", "127.0.0.1"),  # a suffix entry does not admit the bare domain
        ("ollama.lan.evil", "192.168.5.5"),
        ("anything", "192.168.1.8"),
        ("anything", "127.0.0.1"),
    ]
    for host, address in refused:
        assert policy.refused_kind(host, ip_address(address)) is not None, (host, address)


def test_metadata_needs_an_exact_entry() -> None:
    metadata = ip_address("169.254.169.254")
    wide = AddressPolicy(allow_list=AllowList.parse("169.254.0.0/16,0.0.0.0/0"))
    assert wide.refused_kind("x", metadata) is AddressKind.METADATA
    assert wide.refused_kind("x", ip_address("169.254.1.1")) is None
    with pytest.raises(BlockedAddress, match="exact host or address"):
        wide.check("x", metadata)
    assert (
        AddressPolicy(allow_list=AllowList.parse("169.254.169.254")).refused_kind("x", metadata)
        is None
    )
    named = AddressPolicy(allow_list=AllowList.parse("metadata.google.internal"))
    assert named.refused_kind("metadata.google.internal", metadata) is None
    # Allowing local networks (embedded provider policy) never admits metadata.
    local = AddressPolicy(allowed_kinds=LOCAL_NETWORK_KINDS)
    assert local.refused_kind("x", metadata) is AddressKind.METADATA
    assert local.refused_kind("x", ip_address("100.100.100.200")) is AddressKind.METADATA
    assert local.refused_kind("x", ip_address("fd00:ec2::254")) is AddressKind.METADATA
    with pytest.raises(ValueError, match="one by one"):
        AddressPolicy(allowed_kinds=frozenset({AddressKind.METADATA}))


def test_local_network_kinds() -> None:
    local = AddressPolicy(allowed_kinds=LOCAL_NETWORK_KINDS)
    for address in ("127.0.0.1", "::1", "192.168.1.10", "10.0.0.5", "fd00::5", "100.80.1.2"):
        assert local.refused_kind("h", ip_address(address)) is None, address
    for address in ("169.254.1.1", "0.0.0.0", "224.0.0.1", "fe80::1"):  # noqa: S104
        assert local.refused_kind("h", ip_address(address)) is not None, address


@pytest.mark.parametrize("entry", ["10.0.0.0/33", "host:8080", "bad host!", "1.2.3.4/x"])
def test_bad_allow_list_entries_are_named(entry: str) -> None:
    with pytest.raises(ValueError, match="is not"):
        AllowList.parse(f"ok.example, {entry}")


def test_host_overrides() -> None:
    parsed = parse_host_overrides("api.example.test=127.0.0.1, V6.Test=[::1]\nother.test=10.0.0.1")
    assert parsed == {
        "api.example.test": ip_address("127.0.0.1"),
        "v6.test": ip_address("::1"),
        "other.test": ip_address("10.0.0.1"),
    }
    assert parse_host_overrides("") == {}
    for bad in ("api.example.test", "api.example.test=not-an-ip", "=127.0.0.1"):
        with pytest.raises(ValueError, match="host=ip"):
            parse_host_overrides(bad)
