"""Multi-digit arithmetic problems with a column-by-column reference solution."""

from __future__ import annotations

import random
from typing import Any

from grpo.tasks._split import check_split, split_of

OPERATORS = ("+", "-", "*")


def _evaluate(a: int, op: str, b: int) -> int:
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    return a * b


def addition_steps(a: int, b: int, *, carry: bool = True) -> str:
    """Column addition written out digit by digit, the chain of thought a child would write.

    With `carry=False` the carries are dropped: the classic mistake, used by the tiny-model
    pre-training corpus to give the base model a wrong habit that RL has to unlearn.
    """
    da, db = str(a)[::-1], str(b)[::-1]
    steps, digits, c = [], [], 0
    for i in range(max(len(da), len(db))):
        x = int(da[i]) if i < len(da) else 0
        y = int(db[i]) if i < len(db) else 0
        total = x + y + c
        terms = f"{x}+{y}" + (f"+{c}" if c else "")
        if carry:
            c = total // 10
            note = f", carry {c}" if c else ""
        else:
            c = 0
            note = ""
        steps.append(f"{terms}={total}{note}")
        digits.append(str(total % 10))
    if c:
        digits.append(str(c))
    answer = "".join(reversed(digits)).lstrip("0") or "0"
    return "; ".join(steps) + f". So the answer is {answer}"


def generate_arithmetic(
    split: str = "train",
    num_samples: int = 1000,
    seed: int = 0,
    digits: int = 3,
    operators: tuple[str, ...] | list[str] = ("+",),
) -> list[dict[str, Any]]:
    """Rows {prompt, answer, solution, a, op, b} of `digits`-digit problems.

    The test split holds one problem in ten of the whole space (by hash), so asking for more
    test rows than exist raises instead of looping forever.
    """
    check_split(split)
    bad = [op for op in operators if op not in OPERATORS]
    if bad or not operators:
        raise ValueError(f"operators must be a non-empty subset of {OPERATORS}, got {list(operators)}")
    if digits < 1 or digits > 9:
        raise ValueError(f"digits must be in 1..9, got {digits}")
    low, high = 10 ** (digits - 1) if digits > 1 else 0, 10**digits - 1
    space = (high - low + 1) ** 2 * len(operators)
    if num_samples > space // 20:
        raise ValueError(
            f"asked for {num_samples} {split} problems of {digits} digits, but the space holds about "
            f"{space // 10 if split == 'test' else space} of them; ask for fewer or more digits"
        )
    rng = random.Random(f"arithmetic-{split}-{seed}")
    rows: list[dict[str, Any]] = []
    seen: set[str] = set()
    while len(rows) < num_samples:
        a, b = rng.randint(low, high), rng.randint(low, high)
        op = rng.choice(list(operators))
        if op == "-" and b > a:
            a, b = b, a
        key = f"{a}{op}{b}"
        if key in seen or split_of(key) != split:
            continue
        seen.add(key)
        result = _evaluate(a, op, b)
        solution = addition_steps(a, b) if op == "+" else f"{a}{op}{b}={result}. So the answer is {result}"
        rows.append(
            {"prompt": f"What is {a} {op} {b}?", "answer": str(result), "solution": solution,
             "a": a, "op": op, "b": b}
        )
    return rows
