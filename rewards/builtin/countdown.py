"""Countdown reward: the expression uses exactly the given numbers, each once, and hits the target.

Parsed with Python's `ast` into a whitelist of nodes and evaluated with exact fractions: model
text is never passed to eval().
"""

from __future__ import annotations

import ast
import warnings
from collections import Counter
from fractions import Fraction

from rewards.base import Sample, VerifierResult, verifier
from rewards.extract import answer_tag
from rewards.registry import register

_OPERATORS = {ast.Add: lambda a, b: a + b, ast.Sub: lambda a, b: a - b, ast.Mult: lambda a, b: a * b, ast.Div: lambda a, b: a / b}
MAX_EXPRESSION_CHARS = 200


class _Invalid(ValueError):
    pass


def evaluate_expression(text: str) -> tuple[Fraction, list[int]]:
    """Exact value of an arithmetic expression and the integer literals it uses, or _Invalid."""
    if len(text) > MAX_EXPRESSION_CHARS:
        raise _Invalid("expression too long")
    try:
        # "1and 2" parses with a SyntaxWarning ("invalid decimal literal"; a DeprecationWarning
        # before Python 3.12) printed by every reward worker for every such completion
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SyntaxWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            tree = ast.parse(text.replace("×", "*").replace("÷", "/"), mode="eval")
    except SyntaxError as err:
        raise _Invalid(f"not an expression: {err.msg}") from None
    used: list[int] = []

    def walk(node: ast.AST) -> Fraction:
        if isinstance(node, ast.BinOp) and type(node.op) in _OPERATORS:
            left, right = walk(node.left), walk(node.right)
            if isinstance(node.op, ast.Div) and right == 0:
                raise _Invalid("division by zero")
            return _OPERATORS[type(node.op)](left, right)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            raise _Invalid("unary minus is not allowed")
        if isinstance(node, ast.Constant) and type(node.value) is int:
            used.append(node.value)
            return Fraction(node.value)
        raise _Invalid(f"{type(node).__name__} is not allowed")

    return walk(tree.body), used


@register("countdown")
@verifier(needs=lambda kwargs: (kwargs.get("numbers_column", "numbers"), (kwargs.get("target_column", "target"), "answer")))
def countdown_reward(sample: Sample, numbers_column: str = "numbers", target_column: str = "target") -> VerifierResult:
    """1.0 when <answer> holds an expression over exactly the given numbers equal to the target.

    An '= target' suffix is accepted. The columns default to the built-in task's; TinyZero's
    Countdown dataset calls them `nums` and `target`.
    """
    columns = {**sample.columns, "answer": sample.answer}
    numbers, target = columns.get(numbers_column), columns.get(target_column, sample.answer)
    if numbers is None or target is None:
        raise ValueError(f"countdown needs dataset columns {numbers_column!r} and {target_column!r}")
    found = answer_tag(sample.completion)
    if found is None:
        return VerifierResult(0.0, {"reason": "no <answer>"})
    expression = found.split("=")[0].strip()
    try:
        value, used = evaluate_expression(expression)
    except _Invalid as err:
        return VerifierResult(0.0, {"expression": expression, "reason": str(err)})
    if Counter(used) != Counter(int(n) for n in numbers):
        return VerifierResult(0.0, {"expression": expression, "reason": f"uses {sorted(used)}, needs {sorted(numbers)}"})
    hit = value == Fraction(str(target))
    return VerifierResult(float(hit), {"expression": expression, "value": str(value)})
