"""Verifiers in a killable child: hangs are cut at their timeout, crashes and exceptions give the
fallback reward, and the next call works."""

import time

import pytest

from rewards import Sample, VerifierError
from rewards.runner import VerifierRunner
from rewards.worker import RewardWorker

HOSTILE = "tests/data/hostile_verifiers.py"
SAMPLES = [Sample("p", "1"), Sample("p", "7"), Sample("p", "2")]


def spec(name, **extra):
    return {"name": f"{HOSTILE}:{name}", "timeout": 1.0, "fallback": -0.5, **extra}


@pytest.fixture(autouse=True)
def at_root(monkeypatch):
    from tests.conftest import ROOT

    monkeypatch.chdir(ROOT)


def test_sleeping_forever_is_cut_at_the_timeout():
    runner = VerifierRunner([spec("sleeps_on_seven")])
    started = time.monotonic()
    outcome = runner.score(0, SAMPLES)
    elapsed = time.monotonic() - started
    assert [r.value for r in outcome.results] == [1.0, -0.5, 1.0]
    assert outcome.failures == 1 and "timed out after 1 s" in outcome.first_error
    assert 1.0 <= elapsed < 10.0
    assert runner.restarts == 1
    assert [r.value for r in runner.score(0, [Sample("p", "3")]).results] == [1.0]  # alive again
    runner.close()


def test_exception_gives_fallback_for_that_sample_only():
    runner = VerifierRunner([spec("raises_on_seven")])
    outcome = runner.score(0, SAMPLES)
    assert [r.value for r in outcome.results] == [1.0, -0.5, 1.0]
    assert "ZeroDivisionError: seven is bad luck" in outcome.first_error
    assert runner.restarts == 0
    runner.close()


def test_a_verifier_that_kills_its_process():
    runner = VerifierRunner([spec("dies_on_seven")])
    outcome = runner.score(0, SAMPLES)
    assert [r.value for r in outcome.results] == [1.0, -0.5, 1.0]
    assert "exit code 3" in outcome.first_error
    runner.close()


def test_batched_timeout_covers_the_call():
    runner = VerifierRunner([spec("slow_batch")])
    outcome = runner.score(0, SAMPLES)
    assert outcome.failures == 3 and all(r.value == -0.5 for r in outcome.results)
    runner.close()


def test_printing_does_not_corrupt_the_channel():
    runner = VerifierRunner([spec("prints_a_lot")])
    assert [r.value for r in runner.score(0, SAMPLES).results] == [0.5, 0.5, 0.5]
    runner.close()


def test_worker_reports_failures_per_verifier():
    worker = RewardWorker([{"name": "answer"}, spec("always_raises")])
    results, failures, errors = worker.score([Sample("p", "<answer>1</answer>", answer="1")])
    assert results[0][0].value == 1.0 and results[1][0].value == -0.5
    assert failures == [0, 1] and errors[0] is None and "missing column" in errors[1]


def test_the_worker_turns_off_tokenizer_threads_before_its_runner_forks(monkeypatch):
    """On a joined cluster the worker does not inherit the driver's environment (grpo/cluster.py)."""
    import os

    monkeypatch.delenv("TOKENIZERS_PARALLELISM", raising=False)
    RewardWorker([{"name": "answer"}])
    assert os.environ["TOKENIZERS_PARALLELISM"] == "false"


def test_build_failure_is_a_configuration_error():
    with pytest.raises(VerifierError, match="takes no argument"):
        VerifierRunner([{"name": "answer", "kwargs": {"nonsense": 1}}])


def test_math_blowup_is_cut_by_the_runner_first():
    runner = VerifierRunner([{"name": "math", "timeout": 2.0, "fallback": 0.0}])
    started = time.monotonic()
    outcome = runner.score(0, [Sample("p", r"\boxed{9^{9^{9^{9}}}}", answer="3"), Sample("p", r"\boxed{3}", answer="3")])
    assert time.monotonic() - started < 12
    assert [r.value for r in outcome.results] == [0.0, 1.0]
    runner.close()


def test_a_non_finite_score_is_that_samples_failure_and_gets_the_fallback():
    runner = VerifierRunner([spec("nan_on_seven")])
    outcome = runner.score(0, [Sample("p", "1"), Sample("p", "7"), Sample("p", "5"), Sample("p", "2")])
    assert [r.value for r in outcome.results] == [1.0, -0.5, -0.5, 1.0]
    assert outcome.failures == 2 and "non-finite score" in outcome.first_error
    assert outcome.results[1].details["error"] == "non-finite score nan"
    runner.close()


def test_a_string_score_is_a_failure_with_the_message():
    runner = VerifierRunner([spec("returns_a_string")])
    outcome = runner.score(0, SAMPLES)
    assert outcome.failures == 3 and "returned str; return a float, None or VerifierResult" in outcome.first_error
    runner.close()
