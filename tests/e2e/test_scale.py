"""Scale out on one machine: a simulated two-node Ray cluster (learner and rollout worker on different
nodes) trains; the placement is what the recipe asked for."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from grpo.logging import read_metrics
from tests.conftest import ROOT


@pytest.mark.slow
def test_learner_and_rollout_worker_on_two_nodes(tmp_path):
    done = subprocess.run([sys.executable, "-m", "tests.e2e.two_nodes", str(tmp_path)], cwd=ROOT, capture_output=True,
                          text=True, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    nodes = json.loads((tmp_path / "nodes.json").read_text())
    line = next(line for line in done.stdout.splitlines() if line.startswith("placement:"))
    by_name = {name: node_id[:12] for node_id, name in nodes.items()}
    assert f"learner rank 0 on node {by_name['node_a']}" in line
    assert f"rollout worker 0 on node {by_name['node_b']}" in line
    steps = [m for m in read_metrics(tmp_path / "two-nodes") if "reward/mean" in m]
    assert [m["step"] for m in steps] == [1, 2, 3] and all(m["time/sync"] > 0 for m in steps)


@pytest.mark.slow
def test_a_tiny_deepseek_v3_policy_learns_through_the_same_learner(tmp_path):
    """MLA attention + routed/shared experts (a few hundred thousand parameters, random init): GRPO on
    a reward a random policy can climb raises it, with the experts' load logged every step."""
    from grpo.config import load_recipe
    from grpo.trainer import train
    from tests.moe_model import build_tiny_deepseek_v3

    model = build_tiny_deepseek_v3(tmp_path / "dsv3")
    recipe = load_recipe(ROOT / "recipes" / "quickstart.yaml", [
        f"model.path={model}", f"output_dir={tmp_path}", "name=moe", "data.test=null",
        f"rewards.verifiers=[{{name: '{ROOT}/tests/data/toy_rewards.py:digits'}}]", "rewards.correctness=null",
        "rewards.warn_after_steps=0",
        "rollout.prompts_per_step=4", "rollout.group_size=8", "rollout.max_completion_tokens=24", "rollout.stop=[]",
        "trainer.steps=16", "trainer.learning_rate=5e-3", "trainer.warmup_steps=0", "trainer.threads=2",
        "checkpoint.every_steps=0", "logging.progress=false",
    ])
    train(recipe)
    steps = [m for m in read_metrics(tmp_path / "moe") if "reward/mean" in m]
    first, last = (sum(m["reward/mean"] for m in part) / 4 for part in (steps[:4], steps[-4:]))
    assert last > 1.5 * first, (first, last)
    for m in steps:
        assert m["moe/tokens_routed"] > 0 and m["moe/load_max_over_mean"] >= 1.0
        assert m["train/sampler_logprob_gap"] >= 0.0
