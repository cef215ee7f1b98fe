"""Multi-turn episodes through the whole stack (Ray actors, both rollout placements, learner)."""

from __future__ import annotations

import json

import pytest

from grpo.logging import read_metrics
from grpo.trainer import train
from tests.e2e.test_train import small_recipe

HINT_ENV = '''
class Hint:
    """Answers the policy's first </think> with a hint turn, then lets it finish."""

    stop = ("</think>",)

    def reset(self, row):
        self.answered = False
        return None

    def step(self, turn):
        if self.answered or not turn.endswith("</think>"):
            return None
        self.answered = True
        return " <hint> carry the ones </hint>"
'''


@pytest.mark.parametrize("placement", [["rollout.colocate=true"], ["rollout.colocate=false", "rollout.num_workers=1"]],
                         ids=["colocated", "rollout-worker"])
def test_environment_turns_reach_the_trainer_masked(tmp_path, ray_cluster, placement):
    (tmp_path / "hint_env.py").write_text(HINT_ENV)
    recipe = small_recipe(tmp_path, "episodes", f"env.name={tmp_path}/hint_env.py:Hint", "env.max_turns=3",
                          "trainer.steps=2", "trainer.epochs_per_step=2", "checkpoint.every_steps=0", "rollout.max_completion_tokens=120", *placement)
    train(recipe)
    metrics = [m for m in read_metrics(recipe.run_dir) if "reward/mean" in m]
    assert len(metrics) == 2
    for m in metrics:
        assert m["episode/env_tokens"] > 5  # the hint is ~15 tokens; most episodes reached </think>
        assert 1.5 < m["episode/turns"] <= 3
        # env tokens carry sampler log-prob 0: had they entered the mask, the trainer/sampler gap
        # over masked tokens would be large, not float noise
        assert m["rollout/logprob_gap"] < 1e-3
    record = json.loads((recipe.run_dir / "samples" / "step_000001.jsonl").read_text().splitlines()[0])
    roles = [t["role"] for t in record["turns"]]
    assert roles[:2] == ["policy", "env"]
    assert " <hint> carry the ones </hint>" in record["completion"]
    assert record["env"]["turns"] == roles.count("policy")
