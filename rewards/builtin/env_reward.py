"""The environment's own reward (a game's score, a TRL environment's `get_reward()`), as a verifier
so it is weighted, logged and failure-handled like every other reward."""

from __future__ import annotations

from rewards.base import Sample, VerifierResult
from rewards.registry import register


@register("env_reward")
def env_reward(sample: Sample, key: str = "reward") -> VerifierResult:
    """`sample.env[key]`, what the episode's environment reported; None (not applicable) for a
    sample whose episode reported none, such as a single-turn completion."""
    value = sample.env.get(key)
    if value is None:
        return VerifierResult(None, {"env_reward": "none reported"})
    return VerifierResult(float(value), {})
