"""Collect one step's rollouts and their rewards from the actors (orchestration, no math).

Generation is sharded over the rollout actors (or done by the colocated learner), and each
shard's completions go to a reward worker as soon as that shard returns, so scoring overlaps the
generation still under way.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from grpo.cluster import Actors
from grpo.config import RecipeError
from grpo.distributed import split_rows
from grpo.rollout.base import Completion, SamplingParams
from rewards.base import Sample, VerifierResult
from rewards.combine import Scores, combine


class RewardError(RecipeError):
    """Every sample of a step failed in one verifier: a misconfiguration, not bad luck."""


@dataclass
class ScoredRollouts:
    """B completions (G per prompt, contiguous), the dataset row of each, and their scores."""

    completions: list[Completion]
    rows: list[dict[str, Any]]  # dataset row of each completion
    scores: Scores
    timings: dict[str, float] = field(default_factory=dict)

    def select_groups(self, keep: list[bool], group_size: int) -> "ScoredRollouts":
        """Only the groups (of `group_size` contiguous completions) whose `keep` entry is true."""
        indices = [i for g, k in enumerate(keep) if k for i in range(g * group_size, (g + 1) * group_size)]
        return ScoredRollouts([self.completions[i] for i in indices], [self.rows[i] for i in indices],
                              self.scores.select(indices), self.timings)

    def records(self, count: int) -> list[dict[str, Any]]:
        """The first `count` samples as the run folder's trace records (samples/*.jsonl, grpo view)."""
        records = []
        for index, completion in enumerate(self.completions[:count]):
            row = self.rows[index]
            records.append({
                "prompt": row["prompt"], "answer": row.get("answer"), "completion": completion.text,
                "reward": self.scores.totals[index],
                "scores": {name: values[index] for name, values in self.scores.per_verifier.items()},
                "details": self.scores.details[index] if self.scores.details else {},
                "finish_reason": completion.finish_reason, "completion_tokens": len(completion.completion_ids),
                **({"turns": completion.extra["turns"], "env": completion.extra["env"]} if "turns" in completion.extra else {}),
            })
        return records

    def concat(self, other: "ScoredRollouts") -> "ScoredRollouts":
        """These rollouts followed by `other`'s; phase timings add up."""
        timings = {k: self.timings.get(k, 0.0) + other.timings.get(k, 0.0) for k in set(self.timings) | set(other.timings)}
        return ScoredRollouts(self.completions + other.completions, self.rows + other.rows,
                              self.scores.concat(other.scores), timings)


def generation_seed(seed: int, step: int, round_index: int, shard: int) -> int:
    return (seed * 1_000_003 + step * 1009 + round_index * 101 + shard) % (2**62)


def generate_and_score(
    actors: Actors,
    prompts: list[str],
    rows: list[dict[str, Any]],
    params: SamplingParams,
    verifier_specs: list[dict[str, Any]],
    *,
    seed: int,
    step: int,
    round_index: int = 0,
    none_as: str = "skip",
    max_completion_tokens: int = 0,
    pin_version: bool = True,
) -> ScoredRollouts:
    """pin_version: a rollout worker must hold exactly the driver's latest weights (synchronous
    loop); asynchronous rollouts instead read the version each completion was sampled with."""
    import ray

    started = time.time()
    engines = actors.rollouts or [actors.learner]
    shards = _shards(len(prompts), len(engines))
    pending = {}
    for shard_index, (engine, (start, stop)) in enumerate(zip(engines, shards)):
        shard_params = SamplingParams(**{**params.__dict__, "seed": generation_seed(seed, step, round_index, shard_index)})
        extra = (actors.weights_version,) if actors.rollouts and pin_version else ()  # a restarted worker must not sample
        shard_rows = {"rows": rows[start:stop]} if actors.episodes else {}  # only an environment reads them
        pending[engine.generate.remote(prompts[start:stop], shard_params, *extra, **shard_rows)] = (shard_index, start)
    generated: dict[int, list[Completion]] = {}
    reward_futures = {}
    remaining = list(pending)
    while remaining:
        done, remaining = ray.wait(remaining, num_returns=1)
        shard_index, start = pending[done[0]]
        completions = ray.get(done[0])
        for completion in completions:
            completion.prompt_index += start
        generated[shard_index] = completions
        samples = [_sample(c, rows[c.prompt_index], max_completion_tokens) for c in completions]
        # every reward worker takes a slice, so scoring runs in parallel and beside generation
        for chunk, (lo, hi) in enumerate(_shards(len(samples), len(actors.rewards))):
            reward_futures[(shard_index, chunk)] = actors.rewards[chunk].score.remote(samples[lo:hi])
    generated_at = time.time()
    completions = [c for index in sorted(generated) for c in generated[index]]
    outputs = [ray.get(reward_futures[key]) for key in sorted(reward_futures)]
    # rewards overlap generation; only the wait after the last shard is reward time on the clock
    timings = {"time/generate": generated_at - started, "time/rewards": time.time() - generated_at}
    return ScoredRollouts(completions, [rows[c.prompt_index] for c in completions], _merge(outputs, verifier_specs, none_as), timings)


def _shards(count: int, parts: int) -> list[tuple[int, int]]:
    """Contiguous [start, stop) ranges over `count` prompts, as even as possible; none empty."""
    return [b for b in split_rows(count, parts) if b[1] > b[0]]


def _sample(completion: Completion, row: dict[str, Any], max_completion_tokens: int) -> Sample:
    columns = {k: v for k, v in row.items() if k not in ("prompt", "answer")}
    return Sample(
        prompt=row["prompt"], completion=completion.text, answer=row.get("answer"), columns=columns,
        finish_reason=completion.finish_reason, completion_tokens=len(completion.completion_ids),
        max_completion_tokens=max_completion_tokens, turns=completion.extra.get("turns", []),
        env=completion.extra.get("env", {}),
    )


def _merge(outputs: list[tuple[list[list[VerifierResult]], list[int], list[str | None]]], specs: list[dict[str, Any]], none_as: str) -> Scores:
    names = [spec["label"] for spec in specs]
    weights = [spec["weight"] for spec in specs]
    per_verifier: list[list[VerifierResult]] = [[] for _ in specs]
    failures = {name: 0 for name in names}
    first_errors: dict[str, str] = {}
    for results, fails, errors in outputs:
        for index, name in enumerate(names):
            per_verifier[index].extend(results[index])
            failures[name] += fails[index]
            if errors[index] and name not in first_errors:
                first_errors[name] = errors[index]
    if none_as == "zero":
        per_verifier = [[r if r.value is not None else VerifierResult(0.0, r.details) for r in rs] for rs in per_verifier]
    total = len(per_verifier[0]) if per_verifier else 0
    for name in names:
        if total and failures[name] == total:
            raise RewardError(
                f"verifier {name!r} failed on all {total} samples of this step; first error: "
                f"{first_errors.get(name)}. Check its name, kwargs and the dataset columns it reads"
            )
    rewards = combine(names, weights, per_verifier, none_as)
    scores = {name: [r.value for r in per_verifier[i]] for i, name in enumerate(names)}
    details = [{name: per_verifier[i][j].details for i, name in enumerate(names)} for j in range(total)]
    return Scores(rewards, scores, failures, first_errors, details)
