"""Asynchronous rollouts end to end: generation of step t+1 overlaps training of step t."""

from __future__ import annotations

import json

import pytest

from grpo.config import RecipeError
from grpo.logging import read_metrics
from grpo.trainer import train
from tests.e2e.test_train import small_recipe


def test_one_step_off_policy_run_logs_its_staleness(tmp_path, ray_cluster):
    recipe = small_recipe(tmp_path, "async", "rollout.colocate=false", "rollout.num_workers=1", "rollout.max_staleness=1",
                          "algorithm.sampler_correction=tis", "trainer.steps=4", "checkpoint.every_steps=0")
    train(recipe)
    steps = [m for m in read_metrics(recipe.run_dir) if "reward/mean" in m]
    assert [m["rollout/staleness"] for m in steps] == [0.0, 1.0, 1.0, 1.0]
    for m in steps:
        assert m["time/rollout_wait"] >= 0.0
        # the sampler's log-probs are of the older policy: the correction sees a real gap from step 2 on
        assert m["train/sampler_is_weight"] > 0
    assert steps[-1]["train/sampler_logprob_gap"] > steps[0]["train/sampler_logprob_gap"]
    # the greedy test samples of the first and last evaluation: the same prompts (grpo view pairs them)
    first, last = (recipe.run_dir / "samples" / f"eval_{step:06d}.jsonl" for step in (0, 4))
    prompts = [[json.loads(line)["prompt"] for line in path.read_text().splitlines()] for path in (first, last)]
    assert len(prompts[0]) == recipe.logging.samples_per_step and prompts[0] == prompts[1]


@pytest.mark.parametrize("extra, message", [
    (["rollout.max_staleness=1", "algorithm.sampler_correction=tis"], "rollout.colocate=false"),
    (["rollout.max_staleness=1", "rollout.colocate=false"], "sampler_correction=tis"),
])
def test_async_needs_workers_and_a_correction(tmp_path, extra, message):
    with pytest.raises(RecipeError, match=message):
        small_recipe(tmp_path, "bad", *extra)
