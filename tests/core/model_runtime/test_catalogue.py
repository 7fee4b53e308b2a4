"""Catalogue data and parameter validation."""

from __future__ import annotations

from typing import Any

import pytest

from ore.core.model_runtime.catalogue import ParameterRule, Pricing, chat_rules, validate_parameters
from ore.core.model_runtime.errors import InvalidModelParameter
from ore.core.model_runtime.registry import build_registry
from ore.core.model_runtime.usage import estimate_tokens, price_usage


def test_valid_parameters_are_coerced() -> None:
    checked = validate_parameters(
        chat_rules(100), {"temperature": 1, "max_tokens": 50.0, "stop": ["x"], "seed": None}
    )
    assert checked == {"temperature": 1.0, "max_tokens": 50, "stop": ["x"]}
    assert isinstance(checked["max_tokens"], int)


@pytest.mark.parametrize(
    ("parameters", "name"),
    [
        ({"temperature": -0.1}, "temperature"),
        ({"top_p": 1.5}, "top_p"),
        ({"max_tokens": 101}, "max_tokens"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"temperature": "hot"}, "temperature"),
        ({"temperature": True}, "temperature"),
        ({"stop": 3}, "stop"),
        ({"logit_bias_typo": 1}, "logit_bias_typo"),
    ],
)
def test_bad_parameters_name_the_parameter(parameters: dict[str, Any], name: str) -> None:
    with pytest.raises(InvalidModelParameter) as caught:
        validate_parameters(chat_rules(100), parameters)
    assert caught.value.parameter == name
    assert caught.value.body()["code"] == "invalid_param"


def test_required_and_options() -> None:
    rules = [
        ParameterRule(name="mode", type="string", required=True, options=["a", "b"]),
    ]
    with pytest.raises(InvalidModelParameter, match="mode is required"):
        validate_parameters(rules, {})
    with pytest.raises(InvalidModelParameter, match="one of: a, b"):
        validate_parameters(rules, {"mode": "c"})
    assert validate_parameters(rules, {"mode": "b"}) == {"mode": "b"}


def test_descriptors_render_difys_shapes() -> None:
    openai = build_registry().get("openai").descriptor
    data = openai.model_dump()
    field = data["credential_form_schemas"][0]
    assert field["variable"] == "api_key" and field["type"] == "secret-input"
    assert field["required"] is True
    gpt = openai.find_model("gpt-4o")
    assert gpt is not None and "tool-call" in gpt.features and gpt.context_size == 128000
    rule_names = {r.name for r in gpt.parameter_rules}
    assert {"temperature", "top_p", "max_tokens", "stop", "seed"} <= rule_names
    assert openai.find_model("text-embedding-3-small", "text-embedding") is not None


def test_every_built_in_has_a_label_and_a_credential_form() -> None:
    for descriptor in build_registry().descriptors():
        assert descriptor.label.en_US
        # `local` runs in-process: it has nothing to configure, so no form.
        assert descriptor.credential_form_schemas or descriptor.provider == "local"
        assert descriptor.supported_model_types


def test_estimates_and_prices() -> None:
    assert estimate_tokens("") == 0
    assert estimate_tokens("abcd" * 10) == 10
    assert estimate_tokens("你好") == 2
    usage = price_usage(1000, 500, Pricing(input="2.50", output="10.00"), latency=0.1234,
                        estimated=True)  # fmt: skip
    assert (usage.prompt_price, usage.completion_price, usage.total_price) == (
        "0.0025",
        "0.005",
        "0.0075",
    )
    assert usage.total_tokens == 1500 and usage.estimated and usage.latency == 0.123
    free = price_usage(10, 10, None, latency=0, estimated=False)
    assert free.total_price == "0"
