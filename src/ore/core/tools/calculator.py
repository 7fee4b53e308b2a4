"""Dify's ``maths``/``eval_expression``: arithmetic evaluated on the syntax tree, never
with ``eval``.

The expression is parsed with :mod:`ast` and walked by :func:`evaluate`, which knows
numbers, ``+ - * / // % **``, unary signs, parentheses, a few :mod:`math` functions and
constants, and nothing else: names, attributes, subscripts, strings and calls of anything
outside :data:`FUNCTIONS` are refused. Sizes are bounded so that ``2**10**10`` or
``factorial(10**6)`` is refused instead of eating the CPU and memory of the process.
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable, Mapping
from typing import Any

from ore.core.tools.base import Tool, ToolIdentity, ToolInputError, ToolResult, string_argument

Number = int | float

MAX_EXPRESSION_LENGTH = 500
MAX_INTEGER_BITS = 4096  # results up to about 1.0e1233
MAX_FACTORIAL = 1000

CONSTANTS: dict[str, Number] = {"pi": math.pi, "e": math.e, "tau": math.tau}


def _factorial(value: Number) -> Number:
    if not float(value).is_integer() or not 0 <= value <= MAX_FACTORIAL:
        raise ToolInputError(f"factorial takes a whole number from 0 to {MAX_FACTORIAL}.")
    return math.factorial(int(value))


def _log(value: Number, base: Number = math.e) -> Number:
    return math.log(value, base)


FUNCTIONS: dict[str, Callable[..., Number]] = {
    "abs": abs,
    "round": round,
    "min": min,
    "max": max,
    "sqrt": math.sqrt,
    "exp": math.exp,
    "log": _log,
    "log10": math.log10,
    "log2": math.log2,
    "sin": math.sin,
    "cos": math.cos,
    "tan": math.tan,
    "asin": math.asin,
    "acos": math.acos,
    "atan": math.atan,
    "degrees": math.degrees,
    "radians": math.radians,
    "floor": math.floor,
    "ceil": math.ceil,
    "factorial": _factorial,
}

_BINARY: dict[type[ast.operator], Callable[[Any, Any], Number]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
}


def _checked(value: Number) -> Number:
    if isinstance(value, int) and value.bit_length() > MAX_INTEGER_BITS:
        raise ToolInputError("the result is too large.")
    return value


def _power(base: Number, exponent: Number) -> Number:
    """``base ** exponent``, refused before computing when the result would be huge."""
    if (
        isinstance(base, int)
        and isinstance(exponent, int)
        and abs(base) > 1
        and exponent * (abs(base).bit_length() - 1) > MAX_INTEGER_BITS
    ):
        raise ToolInputError("the result is too large.")
    result = base**exponent
    if isinstance(result, complex):
        raise ToolInputError("the result is not a real number.")
    return _checked(result)


def _call(node: ast.Call) -> Number:
    if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS or node.keywords:
        raise ToolInputError(f"unsupported function call: {ast.unparse(node.func)}")
    arguments = [_evaluate(arg) for arg in node.args]
    return _checked(FUNCTIONS[node.func.id](*arguments))


def _evaluate(node: ast.AST) -> Number:
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
        if isinstance(node.value, bool):
            raise ToolInputError("True and False are not numbers here.")
        return _checked(node.value)
    if isinstance(node, ast.Name) and node.id in CONSTANTS:
        return CONSTANTS[node.id]
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        operand = _evaluate(node.operand)
        return -operand if isinstance(node.op, ast.USub) else operand
    if isinstance(node, ast.BinOp):
        left, right = _evaluate(node.left), _evaluate(node.right)
        if isinstance(node.op, ast.Pow):
            return _power(left, right)
        apply = _BINARY.get(type(node.op))
        if apply is not None:
            return _checked(apply(left, right))
    if isinstance(node, ast.Call):
        return _call(node)
    raise ToolInputError(f"unsupported expression: {ast.unparse(node)}")


def evaluate(expression: str) -> Number:
    """The value of an arithmetic expression; :class:`ToolInputError` for anything else."""
    if len(expression) > MAX_EXPRESSION_LENGTH:
        raise ToolInputError(f"the expression is longer than {MAX_EXPRESSION_LENGTH} characters.")
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError) as error:
        raise ToolInputError("the expression is not valid arithmetic.") from error
    try:
        return _evaluate(tree.body)
    except ZeroDivisionError as error:
        raise ToolInputError("division by zero.") from error
    except (OverflowError, RecursionError) as error:
        raise ToolInputError("the result is too large.") from error
    except (ValueError, TypeError) as error:  # math domain errors, wrong argument counts
        raise ToolInputError(str(error)) from error


class CalculatorTool(Tool):
    identity = ToolIdentity(
        provider="maths",
        name="eval_expression",
        label={"en_US": "Eval Math Expression", "zh_Hans": "计算数学表达式"},
        provider_label={"en_US": "Maths", "zh_Hans": "数学工具"},
    )
    description = (
        "Evaluate an arithmetic expression: numbers, + - * / // % ** and parentheses, "
        f"the constants pi, e, tau and the functions {', '.join(FUNCTIONS)}."
    )
    parameters: dict[str, Any] = {  # noqa: RUF012 - read-only schema
        "type": "object",
        "properties": {
            "expression": {
                "type": "string",
                "description": "The expression, such as (2 + 3) * sqrt(16).",
                # The only characters evaluate() can accept; it also keeps a model that
                # is constrained by a grammar from wandering into prose.
                "pattern": "^[0-9a-z_ .,+*/%()-]+$",
            }
        },
        "required": ["expression"],
    }

    async def run(self, arguments: Mapping[str, Any]) -> ToolResult:
        expression = string_argument(arguments, "expression", max_length=MAX_EXPRESSION_LENGTH)
        return ToolResult(str(evaluate(expression)))
