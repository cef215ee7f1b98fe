"""The driver's per-step metrics (grpo/trainer.py), on hand-built rollouts."""

import pytest

from grpo.config import recipe_from_dict
from grpo.rollout.base import Completion
from grpo.rollout.collect import ScoredRollouts
from grpo.trainer import rollout_metrics
from rewards.combine import Scores
from tests.conftest import minimal_recipe


def rollouts(lengths, answer_scores, format_scores):
    completions = [Completion(0, [1], [5] * n, "x", [0.0] * n, "stop") for n in lengths]
    totals = [(a or 0.0) + 0.2 * f for a, f in zip(answer_scores, format_scores)]
    return ScoredRollouts(completions, [{}] * len(lengths), Scores(totals, {"answer": answer_scores, "format": format_scores}))


def test_lengths_are_split_by_the_correctness_verifier(tmp_path):
    recipe = recipe_from_dict(minimal_recipe(tmp_path, rewards={"verifiers": [{"name": "answer"}, {"name": "format", "weight": 0.2}]}))
    # right: 10 and 30 tokens; wrong: 40, 60 and 80 (format has no say in correctness)
    metrics = rollout_metrics(recipe, rollouts([10, 40, 30, 60, 80], [1.0, 0.0, 1.0, None, 0.0], [0.0, 1.0, 1.0, 1.0, 1.0]))
    assert metrics["accuracy"] == pytest.approx(2 / 5)
    assert metrics["completion/length_mean"] == pytest.approx(44.0)
    assert metrics["completion/length_correct_mean"] == pytest.approx(20.0)
    assert metrics["completion/length_incorrect_mean"] == pytest.approx(60.0)


def test_a_step_with_no_wrong_answer_logs_no_incorrect_length(tmp_path):
    recipe = recipe_from_dict(minimal_recipe(tmp_path))
    metrics = rollout_metrics(recipe, rollouts([12, 20], [1.0, 1.0], [0.0, 0.0]))
    assert metrics["completion/length_correct_mean"] == pytest.approx(16.0)
    assert "completion/length_incorrect_mean" not in metrics
