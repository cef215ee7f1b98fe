"""R1 format reward: reasoning in <think></think>, then the answer in <answer></answer>."""

from __future__ import annotations

import re

from rewards.base import Sample, VerifierResult
from rewards.registry import register

_STRICT = re.compile(r"^\s*<think>(?:(?!</?think>).)*</think>\s*<answer>(?:(?!</?answer>).)*</answer>\s*$", re.DOTALL)


@register("format")
def format_reward(sample: Sample, mode: str = "strict", think_prefilled: bool = False) -> VerifierResult:
    """1.0 for exactly `<think>...</think> <answer>...</answer>` and nothing else around them.

    mode='partial' gives a quarter for each of: one think block, one answer block, think before
    answer, nothing after </answer> (a gentler signal for models that start far from the format).
    think_prefilled: the template already opened <think> (TinyZero style), so it is prepended.
    """
    text = ("<think>" + sample.completion) if think_prefilled else sample.completion
    strict = bool(_STRICT.match(text))
    if mode == "strict":
        return VerifierResult(float(strict), {"format_ok": strict})
    if mode != "partial":
        raise ValueError(f"format mode must be 'strict' or 'partial', got {mode!r}")
    parts = {
        "one_think": text.count("<think>") == 1 and text.count("</think>") == 1,
        "one_answer": text.count("<answer>") == 1 and text.count("</answer>") == 1,
        "ordered": 0 <= text.find("</think>") < text.find("<answer>"),
        "clean_end": text.rstrip().endswith("</answer>"),
    }
    return VerifierResult(1.0 if strict else sum(parts.values()) / 4.0, parts)
