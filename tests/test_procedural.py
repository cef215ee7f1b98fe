"""The reasoning_gym task and verifier: reasoning-gym's generators and answer checkers, unchanged."""

from __future__ import annotations

import builtins

import pytest

from grpo.tasks import TASKS
from rewards.base import Sample
from rewards.registry import build

CHAIN = {"dataset": "chain_sum", "min_digits": 3, "max_digits": 3, "min_terms": 2, "max_terms": 2}


def test_rows_carry_question_answer_and_metadata_and_splits_are_disjoint():
    train = TASKS["reasoning_gym"](split="train", num_samples=200, **CHAIN)
    test = TASKS["reasoning_gym"](split="test", num_samples=20, **CHAIN)
    assert len(train) == 200 and len(test) == 20
    assert not {r["prompt"] for r in train} & {r["prompt"] for r in test}
    row = train[0]
    assert row["prompt"].startswith("State the final answer to the following arithmetic problem:")
    assert row["metadata"]["source_dataset"] == "chain_sum"
    assert int(row["answer"]) == eval(row["metadata"]["expression"])  # noqa: S307 - a generated "361 - 220"
    assert TASKS["reasoning_gym"](split="train", num_samples=200, **CHAIN) == train  # deterministic


def test_the_verifier_uses_the_datasets_own_checker():
    row = TASKS["reasoning_gym"](split="train", num_samples=1, **CHAIN)[0]
    verifier = build("reasoning_gym", {})

    def score(completion):
        return verifier([Sample(row["prompt"], completion, row["answer"], {"metadata": row["metadata"]})])[0]

    assert score(f"<think> ... </think> <answer> {row['answer']} </answer>").value == 1.0
    assert score("<answer> 1 </answer>").value == 0.0
    missing = score("no tags")
    assert missing.value == 0.0 and missing.details == {"extracted": None}


@pytest.mark.parametrize("kwargs, message", [
    ({}, "needs task_kwargs.dataset"),
    ({"dataset": "no_such_task"}, "has no dataset 'no_such_task'"),
])
def test_bad_task_kwargs(kwargs, message):
    with pytest.raises(ValueError, match=message):
        TASKS["reasoning_gym"](num_samples=2, **kwargs)


def test_without_the_package_the_error_says_how_to_install(monkeypatch):
    real_import = builtins.__import__

    def no_reasoning_gym(name, *args, **kwargs):
        if name == "reasoning_gym" or name.startswith("reasoning_gym."):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_reasoning_gym)
    with pytest.raises(ValueError, match=r"pip install 'grpo\[reasoning-gym\]'"):
        TASKS["reasoning_gym"](num_samples=2, dataset="chain_sum")
