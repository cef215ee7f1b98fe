"""Evaluation on a test split with the recipe's verifiers: greedy accuracy and pass@k."""

from __future__ import annotations

import math
from typing import Any

from grpo.cluster import Actors
from grpo.config import Recipe
from grpo.envs.episode import episode_metrics
from grpo.rollout.base import SamplingParams
from grpo.rollout.collect import generate_and_score
from rewards.combine import verifier_means


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k from n samples with c correct (Chen et al. 2021, eq. 1): 1 - C(n-c, k)/C(n, k)."""
    if k > n:
        raise ValueError(f"pass@k needs k <= n, got k={k}, n={n}")
    if n - c < k:
        return 1.0
    return 1.0 - math.comb(n - c, k) / math.comb(n, k)


def pool(into: dict[str, list[float | None]], scores: dict[str, list[float | None]]) -> None:
    """Append one batch's per-verifier scores, so each mean is over every sample it applied to
    (a verifier that returned None on part of a batch is not diluted by the batch's size)."""
    for name, values in scores.items():
        into.setdefault(name, []).extend(values)


def correctness_label(recipe: Recipe) -> str:
    """The label of the verifier that defines accuracy (`rewards.correctness` may give its name)."""
    wanted = recipe.rewards.correctness
    for spec in recipe.rewards.verifiers:
        if wanted in (None, spec.label, spec.name):
            return spec.label
    raise ValueError(f"rewards.correctness = {wanted!r} names no verifier")  # the schema already refused it


def evaluate(recipe: Recipe, actors: Actors, prompts: list[str], rows: list[dict[str, Any]], *, seed: int,
             traces: list[dict[str, Any]] | None = None) -> dict[str, float]:
    """eval/accuracy (greedy), eval/reward/<verifier> (greedy) and, when eval.k > 1, eval/pass@k,
    eval/mean@k and eval/sampled/reward/<verifier>: the verifiers over the k samples, because a
    property of what the policy samples (language mixing, self-checks) can be absent from its one
    greedy answer (the R1 study's bilingual base decodes wholly English greedily, mixes when sampled).
    `traces`: receives the greedy samples of the first logging.samples_per_step test prompts (the
    same prompts at every evaluation, so `grpo view` can set two steps side by side)."""
    specs = [spec.model_dump() for spec in recipe.rewards.verifiers]
    target = correctness_label(recipe)
    size = recipe.eval.num_prompts or len(rows)
    prompts, rows = prompts[:size], rows[:size]
    metrics: dict[str, float] = {}
    greedy = SamplingParams(n=1, temperature=0.0, max_tokens=recipe.rollout.max_completion_tokens, stop=tuple(recipe.rollout.stop), seed=seed)
    correct = []
    lengths = []
    episodes = []
    greedy_scores: dict[str, list[float | None]] = {}
    for start in range(0, len(prompts), recipe.eval.batch_size):
        part = generate_and_score(
            actors, prompts[start : start + recipe.eval.batch_size], rows[start : start + recipe.eval.batch_size],
            greedy, specs, seed=seed, step=-1, round_index=start, none_as=recipe.rewards.none_as,
        )
        if traces is not None and len(traces) < recipe.logging.samples_per_step:
            traces += part.records(recipe.logging.samples_per_step - len(traces))
        correct += [(v or 0.0) >= 0.5 for v in part.scores.per_verifier[target]]
        lengths += [len(c.completion_ids) for c in part.completions]
        episodes += part.completions
        pool(greedy_scores, part.scores.per_verifier)
    metrics.update({f"eval/reward/{name}": mean for name, mean in verifier_means(greedy_scores).items()})
    metrics["eval/accuracy"] = sum(correct) / max(1, len(correct))
    metrics["eval/length_mean"] = sum(lengths) / max(1, len(lengths))
    metrics.update({f"eval/{key}": value for key, value in episode_metrics(episodes).items()})
    k = recipe.eval.k
    if k > 1:
        sampled = SamplingParams(n=k, temperature=recipe.eval.temperature, top_p=recipe.rollout.top_p,
                                 max_tokens=recipe.rollout.max_completion_tokens, stop=tuple(recipe.rollout.stop), seed=seed)
        scores: list[bool] = []
        sampled_scores: dict[str, list[float | None]] = {}
        per_batch = max(1, recipe.eval.batch_size // k)
        for start in range(0, len(prompts), per_batch):
            part = generate_and_score(
                actors, prompts[start : start + per_batch], rows[start : start + per_batch], sampled, specs,
                seed=seed + 1, step=-1, round_index=start, none_as=recipe.rewards.none_as,
            )
            scores += [(v or 0.0) >= 0.5 for v in part.scores.per_verifier[target]]
            pool(sampled_scores, part.scores.per_verifier)
        metrics.update({f"eval/sampled/reward/{name}": mean for name, mean in verifier_means(sampled_scores).items()})
        per_prompt = [scores[i : i + k] for i in range(0, len(scores), k)]
        metrics[f"eval/pass@{k}"] = sum(pass_at_k(k, sum(group), k) for group in per_prompt) / max(1, len(per_prompt))
        metrics["eval/mean@k"] = sum(scores) / max(1, len(scores))
    metrics["eval/num_prompts"] = float(len(prompts))
    return metrics
