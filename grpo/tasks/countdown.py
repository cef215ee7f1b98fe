"""Countdown: reach a target with the given numbers, each used once, and + - * /.

The task TinyZero used to reproduce R1-Zero behaviour on small models; every generated instance
is solvable because the target is computed from a random expression over the numbers.
"""

from __future__ import annotations

import random
from fractions import Fraction
from typing import Any

from grpo.tasks._split import check_split, split_of


def _random_expression(rng: random.Random, numbers: list[int], operators: str = "+-*/",
                       chain: bool = False) -> tuple[str, Fraction]:
    """A random full binary expression over all `numbers` in random order, and its exact value.
    chain: applied left to right ("(3 + 5) * 2"), the shape a small model can search step by step."""
    items: list[tuple[str, Fraction]] = [(str(n), Fraction(n)) for n in numbers]
    rng.shuffle(items)
    while len(items) > 1:
        i = 0 if chain else rng.randrange(len(items) - 1)
        (left, lv), (right, rv) = items[i], items[i + 1]
        op = rng.choice(operators)
        if op == "/" and rv == 0:
            op = "+"
        value = {"+": lv + rv, "-": lv - rv, "*": lv * rv, "/": lv / rv if rv else lv}[op]
        items[i : i + 2] = [(f"({left} {op} {right})", value)]
    text, value = items[0]
    return (text[1:-1] if text.startswith("(") else text), value


def countdown_prompt(numbers: list[int], target: int) -> str:
    return (
        f"Using the numbers {numbers}, create an equation that equals {target}. You can use basic "
        "arithmetic operations (+, -, *, /) and each number can only be used once."
    )


def generate_countdown(
    split: str = "train",
    num_samples: int = 1000,
    seed: int = 0,
    num_numbers: int = 3,
    max_number: int = 20,
    max_target: int = 100,
    operators: str = "+-*/",
    chain: bool = False,
) -> list[dict[str, Any]]:
    """Rows {prompt, answer, solution, numbers, target}; `answer` is the target as text.

    `solution` is one expression that reaches the target (others may exist; the countdown
    verifier accepts any valid one). `operators`: those the targets are built from; `chain`:
    targets reached by applying them left to right, so every problem has a solution of that
    shape (what the R1 study's small bases learn to search over).
    """
    check_split(split)
    if not 2 <= num_numbers <= 6:
        raise ValueError(f"num_numbers must be in 2..6, got {num_numbers}")
    if not operators or set(operators) - set("+-*/"):
        raise ValueError(f"operators must be a non-empty string of + - * /, got {operators!r}")
    if max_number < 2 or max_target < 1:
        raise ValueError("max_number must be >= 2 and max_target >= 1")
    rng = random.Random(f"countdown-{split}-{seed}")
    rows: list[dict[str, Any]] = []
    seen: set[str] = set()
    attempts = 0
    while len(rows) < num_samples:
        attempts += 1
        if attempts > 200 * num_samples + 10_000:
            raise ValueError(
                f"could not find {num_samples} distinct {split} countdown problems with "
                f"num_numbers={num_numbers}, max_number={max_number}, max_target={max_target}; widen them"
            )
        numbers = [rng.randint(1, max_number) for _ in range(num_numbers)]
        expression, value = _random_expression(rng, numbers, operators, chain)
        if value.denominator != 1 or not 1 <= value <= max_target:
            continue
        target = int(value)
        key = f"{sorted(numbers)}->{target}"
        if key in seen or split_of(key) != split:
            continue
        seen.add(key)
        rows.append(
            {"prompt": countdown_prompt(numbers, target), "answer": str(target),
             "solution": f"{expression} = {target}", "numbers": numbers, "target": target}
        )
    return rows
