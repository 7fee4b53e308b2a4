"""Usage summed over the model calls of one agent run."""

from __future__ import annotations

from ore.core.agent import add_usage
from ore.core.model_runtime import Usage


def test_tokens_prices_and_latency_add_up() -> None:
    first = Usage(
        prompt_tokens=11,
        completion_tokens=3,
        total_tokens=14,
        prompt_unit_price="0.15",
        prompt_price="0.0000017",
        completion_price="0.0000018",
        total_price="0.0000035",
        latency=0.25,
    )
    second = Usage(
        prompt_tokens=40,
        completion_tokens=10,
        total_tokens=50,
        prompt_unit_price="0.15",
        prompt_price="0.000006",
        completion_price="0.000006",
        total_price="0.000012",
        latency=0.5,
        estimated=True,
    )
    total = add_usage(add_usage(None, first), second)
    assert total is not None
    assert (total.prompt_tokens, total.completion_tokens, total.total_tokens) == (51, 13, 64)
    assert (total.prompt_price, total.completion_price, total.total_price) == (
        "0.0000077",
        "0.0000078",
        "0.0000155",
    )
    assert total.prompt_unit_price == "0.15" and total.currency == "USD"
    assert total.latency == 0.75 and total.estimated
    assert first.prompt_tokens == 11  # the parts are left as they were


def test_missing_usage_adds_nothing() -> None:
    assert add_usage(None, None) is None
    only = Usage(prompt_tokens=2, total_tokens=2)
    assert add_usage(only, None) is only
