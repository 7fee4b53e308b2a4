"""Typed failures of outbound HTTP.

They are :class:`~ore.core.errors.OreError` subclasses so that one reaching a controller
renders as ``{code, message, status}``; services that have a contract code of their own
(remote file upload, DSL import from a URL) catch them and raise theirs.
"""

from __future__ import annotations

from ore.core.errors import OreError


class OutboundHttpError(OreError):
    """Base of every outbound HTTP failure."""

    code = "outbound_http_error"
    status = 502
    default_message = "The outbound HTTP request failed."


class InvalidOutboundUrl(OutboundHttpError):
    """The URL is not an absolute http(s) URL with a host."""

    code = "outbound_invalid_url"
    status = 400
    default_message = "Only absolute http:// and https:// URLs can be requested."


class BlockedAddress(OutboundHttpError):
    """The host resolves to an address the policy refuses; nothing was sent to it."""

    code = "outbound_address_blocked"
    status = 400
    default_message = "The URL points to an address that may not be reached."

    def __init__(self, message: str, *, host: str, address: str, kind: str) -> None:
        super().__init__(message)
        self.host = host
        self.address = address
        self.kind = kind


class TooManyRedirects(OutboundHttpError):
    code = "outbound_too_many_redirects"
    status = 400
    default_message = "The URL redirected too many times."


class ResponseTooLarge(OutboundHttpError):
    code = "outbound_response_too_large"
    status = 400
    default_message = "The response body is larger than allowed."

    def __init__(self, message: str, *, limit: int) -> None:
        super().__init__(message)
        self.limit = limit


class OutboundConnectionError(OutboundHttpError):
    """The host could not be resolved or reached, or the exchange broke off."""

    code = "outbound_connection_error"
    default_message = "The remote server could not be reached."


class OutboundTimeout(OutboundHttpError):
    code = "outbound_timeout"
    status = 504
    default_message = "The remote server did not answer in time."
