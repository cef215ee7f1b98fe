"""pass@k against the combinatorial definition."""

import itertools

import pytest

from grpo.evaluate import pass_at_k


@pytest.mark.parametrize("n,c,k", [(5, 0, 1), (5, 2, 1), (5, 2, 3), (6, 1, 6), (4, 4, 2)])
def test_pass_at_k_equals_enumeration(n, c, k):
    outcomes = [1] * c + [0] * (n - c)
    subsets = list(itertools.combinations(outcomes, k))
    expected = sum(any(s) for s in subsets) / len(subsets)
    assert pass_at_k(n, c, k) == pytest.approx(expected)


def test_pass_at_k_rejects_k_above_n():
    with pytest.raises(ValueError):
        pass_at_k(2, 1, 3)


def test_evaluate_reports_the_verifiers_over_greedy_answers_and_over_the_k_samples(monkeypatch):
    """Hand-counted means: greedy from one answer per prompt, sampled over the k samples, each over
    the samples a verifier applied to (None excluded), pooled across batches."""
    from types import SimpleNamespace

    import grpo.evaluate as evaluation
    from grpo.config import load_recipe

    recipe = load_recipe("recipes/quickstart.yaml", ["eval.k=2", "eval.batch_size=2"])
    # prompt i: greedy answer right for i < 2; its two samples: right/wrong for prompt 0, both wrong
    # otherwise; format is None (not applicable) on prompt 3's greedy answer
    greedy = {"answer": [1.0, 1.0, 0.0, 0.0], "format": [1.0, 0.0, 1.0, None]}
    sampled = {"answer": [1.0, 0.0] + [0.0] * 6, "format": [1.0, 1.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0]}

    def fake(actors, prompts, rows, params, specs, *, seed, step, round_index, none_as):
        first = int(prompts[0])
        source, width = (sampled, params.n) if params.n > 1 else (greedy, 1)
        scores = {name: values[first * width : (first + len(prompts)) * width] for name, values in source.items()}
        count = len(prompts) * width
        return SimpleNamespace(scores=SimpleNamespace(per_verifier=scores), records=lambda n: [],
                               completions=[SimpleNamespace(completion_ids=[7] * 3, extra={})] * count)

    monkeypatch.setattr(evaluation, "generate_and_score", fake)
    metrics = evaluation.evaluate(recipe, None, ["0", "1", "2", "3"], [{}] * 4, seed=0)
    assert metrics["eval/accuracy"] == 0.5
    assert metrics["eval/reward/answer"] == 0.5
    assert metrics["eval/reward/format"] == pytest.approx(2 / 3)  # the None is not a zero
    assert metrics["eval/sampled/reward/answer"] == pytest.approx(1 / 8)
    assert metrics["eval/sampled/reward/format"] == pytest.approx(6 / 8)
    assert metrics["eval/pass@2"] == 0.25 and metrics["eval/mean@k"] == pytest.approx(1 / 8)
