"""Reward worker: builds the recipe's verifiers once and scores batches of samples.

Runs inside a Ray actor (CPU). A verifier that raises gives its fallback reward for that call
and is counted, never crashing the run; the driver decides when failures mean misconfiguration.
"""

from __future__ import annotations

from typing import Any

from rewards.base import Sample, VerifierResult
from rewards.registry import build


class RewardWorker:
    def __init__(self, specs: list[dict[str, Any]]):
        self.specs = specs
        self.verifiers = [build(spec["name"], spec.get("kwargs", {})) for spec in specs]

    def score(self, samples: list[Sample]) -> tuple[list[list[VerifierResult]], list[int], list[str | None]]:
        """Per verifier: results for every sample; and per verifier: failures and first error."""
        results, failures, errors = [], [], []
        for spec, fn in zip(self.specs, self.verifiers):
            try:
                results.append(fn(samples))
                failures.append(0)
                errors.append(None)
            except Exception as err:  # a verifier bug must not stop training; it is counted instead
                results.append([VerifierResult(spec.get("fallback", 0.0), {"error": repr(err)}) for _ in samples])
                failures.append(len(samples))
                errors.append(f"{type(err).__name__}: {err}")
        return results, failures, errors
