"""The share of the thought's arithmetic steps ("a * b = c") that are right: a monitor of the R1
study, or a process reward when given weight.

Why: under an answer-only reward the study's base went from 92% of its steps right to 48% in 100
GRPO steps (docs/r1-reproduction.md, part 1), and a self-check that rests on wrong arithmetic
cannot pay. With weight 0 it is logged as `reward/arithmetic_check` every step; with a weight it
rewards thoughts whose steps are right, which R1's answer-only rewards do not.

As a process reward (weight 0.2) it was hacked within 150 steps: the policy wrote one short chain
computed right that does not reach the target and stopped, a safe 0.4, and the search died out.
`verified_check` closes that gap: it pays only for attempts that end in a true verdict.
"""

from __future__ import annotations

import re

from rewards.base import Sample, VerifierResult

STEP = re.compile(r"(-?\d+) ([-+*]) (-?\d+) = (-?\d+)")
# one attempt of the corpus's traces: "try <chain>." and its verdict, if any: "27 != 9, wait, that
# fails." or "9 = 9, it works." (the Russian sentences of part 2 start with "пробуем")
ATTEMPT = re.compile(r"(?:try|пробуем) ([^.]*)\.(?: (-?\d+) (!=|=) (-?\d+),)?")
TARGET = re.compile(r"equals (-?\d+)")
APPLY = {"+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b}


def steps_right(thought: str) -> tuple[int, int]:
    """(right, written) arithmetic steps in `thought`."""
    steps = STEP.findall(thought)
    return sum(APPLY[op](int(a), int(b)) == int(c) for a, op, b, c in steps), len(steps)


def arithmetic_check(sample: Sample) -> VerifierResult:
    """Right steps / written steps in the part before </think> (0.0 when it writes none)."""
    right, written = steps_right(sample.completion.split("</think>")[0])
    return VerifierResult(right / written if written else 0.0, {"steps": written, "right": right})


def verified(attempt: tuple[str, str, str, str], target: int) -> bool:
    """An attempt whose steps are all right and whose verdict is true of its chain's result."""
    chain, left, relation, right = attempt
    steps = STEP.findall(chain)
    if not steps or not relation or steps_right(chain) != (len(steps), len(steps)):
        return False
    result, left, right = int(steps[-1][3]), int(left), int(right)
    if relation == "!=":  # "27 != 9": the chain's result, rejected because it misses the target
        return left == result and right == target and result != target
    return left == right == result == target  # "9 = 9, it works": the chain does reach the target


def verified_check(sample: Sample) -> VerifierResult:
    """The share of the thought's attempts that are computed right and end in a true verdict (a
    rejection of a miss, or a success claim that holds); 0.0 without attempts. An attempt with no
    verdict earns nothing, so a lone unchecked chain no longer pays whatever it computes."""
    target = TARGET.search(sample.prompt if isinstance(sample.prompt, str) else str(sample.prompt))
    attempts = ATTEMPT.findall(sample.completion.split("</think>")[0])
    if target is None or not attempts:
        return VerifierResult(0.0, {"attempts": len(attempts), "verified": 0})
    good = sum(verified(attempt, int(target.group(1))) for attempt in attempts)
    return VerifierResult(good / len(attempts), {"attempts": len(attempts), "verified": good})
