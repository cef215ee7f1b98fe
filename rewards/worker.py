"""Reward worker: scores batches of samples with the recipe's verifiers, inside a Ray actor (CPU).

Verifiers run in a killable child process (rewards/runner.py): an exception or a timeout gives
that sample the verifier's fallback reward and is counted, never stopping the run. Whether a
step's failures mean misconfiguration is the driver's call (every sample failing does).
"""

from __future__ import annotations

import os
from typing import Any

from rewards.base import Sample, VerifierResult
from rewards.runner import VerifierRunner


class RewardWorker:
    def __init__(self, specs: list[dict[str, Any]]):
        # a verifier that tokenizes (a reward model) before the runner forks would warn at each fork
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        self.specs = specs
        self.runner = VerifierRunner(specs)

    def score(self, samples: list[Sample]) -> tuple[list[list[VerifierResult]], list[int], list[str | None]]:
        """Per verifier: the results for every sample, the number of failed samples, the first error."""
        outcomes = [self.runner.score(index, samples) for index in range(len(self.specs))]
        return [o.results for o in outcomes], [o.failures for o in outcomes], [o.first_error for o in outcomes]
