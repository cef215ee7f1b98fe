"""Verifiers inside real runs: a hanging verifier, TRL's own reward functions, a misspelt one. A
verifier failing on every sample: tests/test_collect.py (the step's error) and tests/e2e/test_trust.py
(the CLI stops in one line, the traceback in error.log)."""

from __future__ import annotations

import time

import pytest

from grpo.config import RecipeError, load_recipe
from grpo.logging import read_metrics
from tests.conftest import ROOT, TINY_BASE

QUICKSTART = ROOT / "recipes" / "quickstart.yaml"
HOSTILE = ROOT / "tests" / "data" / "hostile_verifiers.py"


def recipe(tmp_path, name, *extra):
    return load_recipe(QUICKSTART, [
        f"output_dir={tmp_path}", f"name={name}", f"model.path={TINY_BASE}", "rollout.prompts_per_step=4",
        "rollout.group_size=4", "trainer.steps=2", "data.test=null", "logging.progress=false", *extra,
    ])


def test_sleeping_verifier_is_cut_and_the_step_completes(tmp_path, ray_cluster):
    from grpo.trainer import train

    verifiers = f"rewards.verifiers=[{{name: answer}}, {{name: '{HOSTILE}:sleeps_sometimes', timeout: 0.5}}]"
    started = time.time()
    train(recipe(tmp_path, "sleepy", verifiers, "rewards.correctness=answer"))
    metrics = [m for m in read_metrics(tmp_path / "sleepy") if "reward/mean" in m]
    assert len(metrics) == 2
    name = "sleeps_sometimes"  # a verifier named by path logs under its attribute, never the path
    for m in metrics:  # hung samples got the fallback 0 and were counted; the others scored 1
        assert 0 < m[f"reward/{name}/failures"] < 16
        assert m[f"reward/{name}"] == pytest.approx(1 - m[f"reward/{name}/failures"] / 16)
    assert time.time() - started < 240


def test_trl_reward_function_from_another_package_runs_unchanged(tmp_path, ray_cluster):
    """`trl.rewards.accuracy_reward(completions, solution, **kwargs)`, as TRL's GRPOTrainer calls it,
    on a chat-prompt dataset (so completions arrive as message lists)."""
    from grpo.trainer import train

    data = ROOT / "tests" / "data" / "chat_arithmetic.jsonl"
    run = recipe(tmp_path, "trl", f"data.train={{path: {data}}}", "data.prompt_column=messages",
                 "data.answer_column=solution", "rewards.verifiers=[{name: 'trl.rewards:accuracy_reward'}, {name: answer}]",
                 "rewards.correctness=answer")
    train(run)
    metrics = [m for m in read_metrics(tmp_path / "trl") if "reward/mean" in m]
    assert len(metrics) == 2
    for m in metrics:
        # it ran on every sample; TRL's accuracy_reward reads only LaTeX-anchored answers ($..$ or
        # \boxed{}), so the tiny model's plain <answer>N</answer> scores 0 there by TRL's own rules
        assert m["reward/accuracy_reward/failures"] == 0
        assert m["reward/accuracy_reward"] == 0.0


def test_unknown_verifier_fails_at_load(tmp_path):
    with pytest.raises(RecipeError, match=r"rewards.verifiers.1.name = 'mathh'"):
        recipe(tmp_path, "typo", "rewards.verifiers=[{name: answer}, {name: mathh}]")
