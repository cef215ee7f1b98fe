"""The "aha" monitor of the R1 study: 1.0 when the chain of thought checks itself and tries again.

Used with weight 0 (`reward/self_check` is then the share of completions that backtrack, logged
every step, without changing what RL optimises). The markers are what the study's corpus writes
("16 != 20, wait, that fails.", in part 2 also "стоп, не выходит."); R1-style models say "wait",
"let me check", "re-evaluate".
"""

from __future__ import annotations

import re

from rewards.base import Sample, VerifierResult

_THINK = re.compile(r"<think>(.*?)(?:</think>|$)", re.DOTALL)


def self_check(sample: Sample, markers: tuple[str, ...] | list[str] = ("wait", "стоп")) -> VerifierResult:
    """1.0 if any marker (case-insensitive, whole words) occurs in the <think> part (the whole
    completion when there is no <think>); info: how many times."""
    found = _THINK.search(sample.completion)
    thought = (found.group(1) if found else sample.completion).lower()
    count = sum(len(re.findall(rf"\b{re.escape(marker.lower())}\b", thought)) for marker in markers)
    return VerifierResult(1.0 if count else 0.0, {"self_checks": count})
