"""Combine per-verifier scores into one reward per completion, and summarise them for metrics."""

from __future__ import annotations

from dataclasses import dataclass, field

from rewards.base import VerifierResult


@dataclass
class Scores:
    """Rewards of B completions: each one's weighted total and every verifier's raw scores."""

    totals: list[float]  # B weighted rewards, what advantages are computed from
    per_verifier: dict[str, list[float | None]]  # verifier label -> B scores (None: not applicable)
    failures: dict[str, int] = field(default_factory=dict)  # verifier label -> samples that errored
    first_errors: dict[str, str] = field(default_factory=dict)
    details: list[dict[str, dict]] = field(default_factory=list)  # per sample: verifier -> details

    def select(self, indices: list[int]) -> "Scores":
        """The scores of completions `indices`. Failure counts and errors stay those of everything
        that was scored: a dropped sample's verifier failure still happened."""
        return Scores(
            [self.totals[i] for i in indices], {n: [v[i] for i in indices] for n, v in self.per_verifier.items()},
            self.failures, self.first_errors, [self.details[i] for i in indices] if self.details else [],
        )

    def concat(self, other: "Scores") -> "Scores":
        """These completions followed by `other`'s (same verifiers); the first error seen is kept."""
        return Scores(
            self.totals + other.totals, {n: self.per_verifier[n] + other.per_verifier[n] for n in self.per_verifier},
            {n: self.failures.get(n, 0) + other.failures.get(n, 0) for n in self.failures},
            {**other.first_errors, **self.first_errors}, self.details + other.details,
        )


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
