"""Exact-answer reward for built-in tasks: the <answer> content equals the reference.

Numbers compare as numbers ("1,234", "1234.0" and " 1234 " all equal 1234); anything else
compares as whitespace-normalised text. For general math use the `math` verifier.
"""

from __future__ import annotations

from fractions import Fraction

from rewards.base import Sample, VerifierResult, verifier
from rewards.extract import final_answer
from rewards.registry import register


def _as_number(text: str) -> Fraction | None:
    cleaned = text.strip().replace(",", "").replace(" ", "").rstrip(".")
    try:
        return Fraction(cleaned)
    except (ValueError, ZeroDivisionError):
        return None


@register("answer")
@verifier(needs=("answer",))
def answer_reward(sample: Sample, sources: tuple[str, ...] | list[str] = ("answer_tag",)) -> VerifierResult:
    """1.0 when the extracted answer equals `sample.answer`, else 0.0 (no answer found: 0.0)."""
    extracted, source = final_answer(sample.completion, tuple(sources))
    if extracted is None:
        return VerifierResult(0.0, {"extracted": None})
    reference = str(sample.answer)
    got, want = _as_number(extracted), _as_number(reference)
    if got is not None and want is not None:
        correct = got == want
    else:
        correct = " ".join(extracted.split()) == " ".join(reference.split())
    return VerifierResult(float(correct), {"extracted": extracted, "source": source})
