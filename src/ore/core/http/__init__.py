"""The one outbound HTTP client of ore, guarded against SSRF.

An :class:`OutboundHttpClient` resolves each host itself, checks every address against an
:class:`AddressPolicy` (loopback, private, link-local, metadata, multicast and reserved
addresses are refused unless allowed), connects to the address it checked, re-checks each
redirect hop and caps time and body size. ``ore.extensions.http`` builds the two clients
of a process from settings: one for user-supplied URLs, one for model-provider base URLs.
"""

from ore.core.http.client import ClientLimits, OutboundHttpClient, OutboundResponse, aiter_capped
from ore.core.http.errors import (
    BlockedAddress,
    InvalidOutboundUrl,
    OutboundConnectionError,
    OutboundHttpError,
    OutboundTimeout,
    ResponseTooLarge,
    TooManyRedirects,
)
from ore.core.http.policy import (
    LOCAL_NETWORK_KINDS,
    AddressKind,
    AddressPolicy,
    AllowList,
    classify,
)
from ore.core.http.resolver import Resolver, parse_host_overrides

__all__ = [
    "LOCAL_NETWORK_KINDS",
    "AddressKind",
    "AddressPolicy",
    "AllowList",
    "BlockedAddress",
    "ClientLimits",
    "InvalidOutboundUrl",
    "OutboundConnectionError",
    "OutboundHttpClient",
    "OutboundHttpError",
    "OutboundResponse",
    "OutboundTimeout",
    "Resolver",
    "ResponseTooLarge",
    "TooManyRedirects",
    "aiter_capped",
    "classify",
    "parse_host_overrides",
]
