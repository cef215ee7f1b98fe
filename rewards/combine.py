"""Combine per-verifier scores into one reward per completion, and summarise them for metrics."""

from __future__ import annotations

from dataclasses import dataclass, field

from rewards.base import VerifierResult


@dataclass
class ScoredBatch:
    """Rewards of B completions: the weighted total and each verifier's raw scores."""

    rewards: list[float]
    scores: dict[str, list[float | None]]  # verifier name -> B scores (None: not applicable / failed)
    failures: dict[str, int] = field(default_factory=dict)  # verifier name -> samples that errored
    first_errors: dict[str, str] = field(default_factory=dict)
    details: list[dict[str, dict]] = field(default_factory=list)  # per sample: verifier -> details


def combine(
    names: list[str], weights: list[float], results: list[list[VerifierResult]], none_as: str = "skip"
) -> list[float]:
    """reward_i = sum_v w_v * score_v,i; a None score is skipped ('skip') or counts as 0 ('zero')."""
    count = len(results[0]) if results else 0
    totals = [0.0] * count
    for weight, per_sample in zip(weights, results):
        for index, result in enumerate(per_sample):
            if result.value is not None:
                totals[index] += weight * result.value
    return totals


def verifier_means(scores: dict[str, list[float | None]]) -> dict[str, float]:
    """Mean of each verifier over the samples where it applied (None excluded)."""
    means = {}
    for name, values in scores.items():
        applied = [v for v in values if v is not None]
        means[name] = sum(applied) / len(applied) if applied else float("nan")
    return means
