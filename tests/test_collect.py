"""A step's reward shards merged into its scores (grpo/rollout/collect.py): failures are counted
over every shard, a verifier failing on every sample of the step stops the run naming its first
error, and one failing on some samples only costs those samples their fallback."""

import pytest

from grpo.rollout.collect import RewardError, _merge
from rewards import Sample
from rewards.worker import RewardWorker

HOSTILE = "tests/data/hostile_verifiers.py"


@pytest.fixture(autouse=True)
def at_root(monkeypatch):
    from tests.conftest import ROOT

    monkeypatch.chdir(ROOT)


def specs(hostile: str) -> list[dict]:
    return [{"name": "answer", "label": "answer", "weight": 1.0},
            {"name": f"{HOSTILE}:{hostile}", "label": hostile, "weight": 0.25, "timeout": 2.0, "fallback": -1.0}]


def shards(worker: RewardWorker) -> list:
    """What two reward workers return for a step of four samples, two each."""
    samples = [Sample("p", f"<answer>{c}</answer>", answer="7") for c in ("7", "1", "7", "2")]
    return [worker.score(samples[:2]), worker.score(samples[2:])]


def test_a_verifier_failing_on_every_sample_of_the_step_stops_with_its_first_error():
    chosen = specs("always_raises")
    with pytest.raises(RewardError) as stopped:
        _merge(shards(RewardWorker(chosen)), chosen, "skip")
    message = str(stopped.value)
    assert "verifier 'always_raises' failed on all 4 samples of this step" in message  # both shards counted
    assert "missing column 'tests'" in message and "dataset columns it reads" in message


def test_failures_on_some_samples_give_those_the_fallback_and_are_counted_over_shards():
    chosen = specs("raises_on_seven")  # raises where the completion contains a 7: samples 0 and 2
    scores = _merge(shards(RewardWorker(chosen)), chosen, "skip")
    assert scores.failures == {"answer": 0, "raises_on_seven": 2}
    assert "seven is bad luck" in scores.first_errors["raises_on_seven"]
    assert scores.per_verifier["answer"] == [1.0, 0.0, 1.0, 0.0]
    assert scores.per_verifier["raises_on_seven"] == [-1.0, 1.0, -1.0, 1.0]
    # 1.0 * answer + 0.25 * the other
    assert scores.totals == pytest.approx([0.75, 0.25, 0.75, 0.25])
