"""``maths``/``eval_expression``: arithmetic on the syntax tree; anything else refused."""

from __future__ import annotations

import math
import re
import time

import pytest

from ore.core.tools import CalculatorTool, ToolInputError, evaluate


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("1 + 2 * 3", 7),
        ("(1 + 2) * 3", 9),
        ("7 / 2", 3.5),
        ("7 // 2", 3),
        ("-7 % 3", 2),
        ("2 ** 10", 1024),
        ("-2 ** 2", -4),
        ("+-+3", -3),
        ("2 ** -1", 0.5),
        ("sqrt(16) + abs(-3)", 7.0),
        ("max(1, 5, 3) - min(4, 2)", 3),
        ("round(2.567, 2)", 2.57),
        ("log(8, 2)", 3.0),
        ("log10(1000)", 3.0),
        ("factorial(10)", 3628800),
        ("floor(2.7) + ceil(2.1)", 5),
        ("2 * pi", math.tau),
        ("1.5e3 + 0.5", 1500.5),
        ("123456789 * 987654321", 121932631112635269),
        ("2 ** 4000", 2**4000),
    ],
)
def test_arithmetic(expression: str, expected: float) -> None:
    assert evaluate(expression) == pytest.approx(expected)
    # The schema's pattern (which grammar-constrained models follow) admits it too.
    pattern = CalculatorTool.parameters["properties"]["expression"]["pattern"]
    assert re.fullmatch(pattern, expression)


async def test_tool_returns_the_value_as_text() -> None:
    tool = CalculatorTool()
    assert tool.identity.key == ("maths", "eval_expression")
    assert (await tool.invoke({"expression": "(2 + 3) * 4"})).text == "20"
    assert (await tool.invoke({"expression": "10 / 4"})).text == "2.5"


@pytest.mark.parametrize(
    "expression",
    [
        "__import__('os')",
        "__import__('os').system('echo hacked')",
        "os",
        "x + 1",
        "(1).__class__",
        "[1, 2][0]",
        "'a' * 3",
        "True + 1",
        "1 if 1 else 2",
        "lambda: 1",
        "1 < 2",
        "1 << 3",
        "3 & 1",
        "~1",
        "abs(x=1)",
        "sqrt",
        "math.sqrt(4)",
        "1j * 1j",
        "(2).bit_length()",
        "globals()",
        "1; 2",
        "",
    ],
)
def test_anything_but_arithmetic_is_refused(expression: str) -> None:
    with pytest.raises(ToolInputError):
        evaluate(expression)


@pytest.mark.parametrize(
    "expression",
    [
        "2**10**10",
        "9 ** 9 ** 9",
        "10 ** 5000",
        "factorial(100000)",
        "(2 ** 4000) * (2 ** 4000)",
        "10.0 ** 400",
        "exp(1000)",
    ],
)
def test_huge_results_are_refused_quickly(expression: str) -> None:
    started = time.monotonic()
    with pytest.raises(ToolInputError, match=r"too large|whole number"):
        evaluate(expression)
    assert time.monotonic() - started < 0.5


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("1 / 0", "division by zero"),
        ("sqrt(-1)", "math domain error"),
        ("(-8) ** 0.5", "not a real number"),
        ("1 +", "not valid arithmetic"),
        ("1" * 600, "longer than"),
        ("(" * 300 + "1" + ")" * 300, "longer than"),
    ],
)
async def test_errors_become_error_results(expression: str, message: str) -> None:
    result = await CalculatorTool().invoke({"expression": expression})
    assert result.is_error
    assert message in result.text


async def test_missing_expression_is_an_error_result() -> None:
    result = await CalculatorTool().invoke({})
    assert result.is_error and "expression is required" in result.text


def test_deep_nesting_evaluates_or_is_refused_cleanly() -> None:
    assert evaluate("(" * 150 + "1 + 1" + ")" * 150) == 2
    assert evaluate("-" * 499 + "1") == -1
    # Python's parser stops at 200 nested parentheses: a clean refusal, not a crash.
    with pytest.raises(ToolInputError, match="not valid arithmetic"):
        evaluate("(" * 240 + "1" + ")" * 240)
