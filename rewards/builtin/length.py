"""Length-shaped rewards: DAPO's soft overlong penalty and an n-gram repetition penalty."""

from __future__ import annotations

from rewards.base import Sample, VerifierResult
from rewards.registry import register


@register("overlong")
def overlong_penalty(sample: Sample, buffer: int = 512, max_tokens: int | None = None) -> VerifierResult:
    """DAPO (Yu et al. 2025, eq. 13): 0 up to L_max - buffer tokens, then a linear ramp to -1 at
    L_max, and -1 beyond. L_max defaults to the recipe's rollout.max_completion_tokens."""
    limit = max_tokens or sample.max_completion_tokens
    if not limit:
        raise ValueError("overlong needs max_tokens or rollout.max_completion_tokens")
    if buffer <= 0 or buffer > limit:
        raise ValueError(f"buffer must be in 1..{limit}, got {buffer}")
    length = sample.completion_tokens
    if length <= limit - buffer:
        value = 0.0
    elif length <= limit:
        value = (limit - buffer - length) / buffer
    else:
        value = -1.0
    return VerifierResult(value, {"tokens": length, "limit": limit})


@register("repetition")
def repetition_penalty(sample: Sample, ngram_size: int = 3, max_penalty: float = -1.0) -> VerifierResult:
    """(1 - distinct n-grams / n-grams) x max_penalty over whitespace words: 0 for text that never
    repeats itself, approaching max_penalty for a loop. Too short for one n-gram: 0."""
    if max_penalty > 0:
        raise ValueError(f"max_penalty must be <= 0, got {max_penalty}")
    words = sample.completion.lower().split()
    grams = [tuple(words[i : i + ngram_size]) for i in range(len(words) - ngram_size + 1)]
    if not grams:
        return VerifierResult(0.0, {"ngrams": 0})
    repeated = 1.0 - len(set(grams)) / len(grams)
    return VerifierResult(repeated * max_penalty, {"ngrams": len(grams), "repeated_share": repeated})
