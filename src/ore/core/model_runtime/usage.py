"""Token counts and prices in Dify's usage shape.

When a provider does not report usage, tokens are estimated offline (nothing is
downloaded): one token per 4 characters of ASCII text, one per character of other scripts
(CJK text is close to one token per character in common BPE vocabularies), plus 4 tokens
of framing per message. Such usage is marked ``estimated``.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from ore.core.model_runtime.catalogue import Pricing
from ore.core.model_runtime.entities import ChatMessage, ToolCall, Usage

_PER_MESSAGE = 4


def estimate_tokens(text: str) -> int:
    """A deterministic, dependency-free estimate of the token count of ``text``."""
    if not text:
        return 0
    ascii_chars = sum(1 for ch in text if ord(ch) < 128)
    other = len(text) - ascii_chars
    return max(1, -(-ascii_chars // 4) + other)


def estimate_messages(messages: list[ChatMessage]) -> int:
    """Estimated prompt tokens of a conversation, tool calls included."""
    total = 0
    for message in messages:
        total += _PER_MESSAGE + estimate_tokens(message.text())
        total += estimate_tool_calls(message.tool_calls)
    return total


def estimate_tool_calls(calls: list[ToolCall]) -> int:
    return sum(estimate_tokens(c.name) + estimate_tokens(c.arguments) for c in calls)


def _money(value: Decimal) -> str:
    return format(value.quantize(Decimal("0.0000001"), rounding=ROUND_HALF_UP).normalize(), "f")


def price_usage(
    prompt_tokens: int,
    completion_tokens: int,
    pricing: Pricing | None,
    *,
    latency: float,
    estimated: bool,
) -> Usage:
    """A :class:`Usage` with prices from the catalogue (zero when the model has none)."""
    usage = Usage(
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        total_tokens=prompt_tokens + completion_tokens,
        latency=round(latency, 3),
        estimated=estimated,
    )
    if pricing is None:
        return usage
    unit_in, unit_out = pricing.unit_prices()
    prompt_price = unit_in * prompt_tokens
    completion_price = unit_out * completion_tokens
    # Dify states unit prices per 1M tokens with price_unit 0.000001.
    usage.prompt_unit_price = pricing.input
    usage.completion_unit_price = pricing.output
    usage.prompt_price = _money(prompt_price)
    usage.completion_price = _money(completion_price)
    usage.total_price = _money(prompt_price + completion_price)
    usage.currency = pricing.currency
    return usage
