"""The share of the thought's arithmetic steps ("a * b = c") that are right: a monitor of the R1
study, or a process reward when given weight.

Why: under an answer-only reward the study's base went from 92% of its steps right to 48% in 100
GRPO steps (docs/r1-reproduction.md, part 1), and a self-check that rests on wrong arithmetic
cannot pay. With weight 0 it is logged as `reward/arithmetic_check` every step; with a weight it
rewards thoughts whose steps are right, which R1's answer-only rewards do not.
"""

from __future__ import annotations

import re

from rewards.base import Sample, VerifierResult

STEP = re.compile(r"(-?\d+) ([-+*]) (-?\d+) = (-?\d+)")
APPLY = {"+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b}


def steps_right(thought: str) -> tuple[int, int]:
    """(right, written) arithmetic steps in `thought`."""
    steps = STEP.findall(thought)
    return sum(APPLY[op](int(a), int(b)) == int(c) for a, op, b, c in steps), len(steps)


def arithmetic_check(sample: Sample) -> VerifierResult:
    """Right steps / written steps in the part before </think> (0.0 when it writes none)."""
    right, written = steps_right(sample.completion.split("</think>")[0])
    return VerifierResult(right / written if written else 0.0, {"steps": written, "right": right})
