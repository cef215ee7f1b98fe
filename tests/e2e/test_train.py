"""End-to-end GRPO runs through Ray on the shipped tiny base model (CPU)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from grpo.config import load_recipe
from grpo.logging import read_metrics
from tests.conftest import ROOT, TINY_BASE

QUICKSTART = ROOT / "recipes" / "quickstart.yaml"


def small_recipe(tmp_path: Path, name: str, *extra: str):
    return load_recipe(QUICKSTART, [
        f"output_dir={tmp_path}", f"name={name}", f"model.path={TINY_BASE}",
        "rollout.prompts_per_step=8", "rollout.group_size=4", "trainer.learning_rate=5e-5",
        "trainer.steps=4", "eval.num_prompts=16", "eval.every_steps=0", "checkpoint.every_steps=2",
        "logging.progress=false", *extra,
    ])


def solution_logprob(model, tokenizer, rows, carry: bool) -> float:
    """Mean total log-prob of the formatted column-addition solutions, with or without carries."""
    from grpo.data import R1_ZERO_TEMPLATE
    from grpo.policy import completion_logprobs
    from grpo.tasks.arithmetic import addition_steps

    total = 0.0
    for row in rows:
        steps = addition_steps(row["a"], row["b"], carry=carry)
        answer = steps.rsplit(" ", 1)[-1]
        prompt = tokenizer(R1_ZERO_TEMPLATE.format(prompt=row["prompt"]))["input_ids"]
        completion = tokenizer(f" <think> {steps} </think> <answer> {answer} </answer>")["input_ids"]
        ids = torch.tensor([prompt + completion])
        with torch.no_grad():
            logp, _ = completion_logprobs(model, ids, torch.ones_like(ids), len(completion))
        total += float(logp.sum())
    return total / len(rows)


def test_grpo_through_ray_moves_policy_toward_reward(tmp_path, ray_cluster):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from grpo.tasks import generate_arithmetic
    from grpo.trainer import train

    recipe = small_recipe(tmp_path, "toy")
    summary = train(recipe)
    run = tmp_path / "toy"

    # the run folder a person reads
    assert yaml.safe_load((run / "config.yaml").read_text())["trainer"]["learning_rate"] == 5e-5
    metrics = read_metrics(run)
    steps = [m for m in metrics if "reward/mean" in m]
    assert [m["step"] for m in steps] == [1, 2, 3, 4]
    assert (run / "samples" / "step_000004.jsonl").exists()
    sample = json.loads((run / "samples" / "step_000001.jsonl").read_text().splitlines()[0])
    # the rewards came from the verifiers: recompute them independently from the logged trace
    from rewards import Sample, build

    expected = build("answer", {})([Sample(sample["prompt"], sample["completion"], sample["answer"])])[0].value
    assert sample["scores"]["answer"] == expected
    fmt = build("format", {})([Sample(sample["prompt"], sample["completion"])])[0].value
    assert sample["reward"] == pytest.approx(1.0 * expected + 0.2 * fmt)
    for m in steps:
        assert 0.0 <= m["reward/answer"] <= 1.0 and m["reward/answer/failures"] == 0
        assert m["train/grad_norm"] > 0

    # a loadable Hugging Face checkpoint whose weights moved toward higher reward:
    # correct (carrying) solutions gained log-prob relative to the base's carry-dropping habit
    trained_dir = summary.last_checkpoint / "model"
    trained = AutoModelForCausalLM.from_pretrained(trained_dir).eval()
    base = AutoModelForCausalLM.from_pretrained(TINY_BASE).eval()
    tokenizer = AutoTokenizer.from_pretrained(trained_dir)
    rows = [r for r in generate_arithmetic("test", 40, seed=5) if (r["a"] % 10) + (r["b"] % 10) >= 10][:16]
    margin_base = solution_logprob(base, tokenizer, rows, True) - solution_logprob(base, tokenizer, rows, False)
    margin_trained = solution_logprob(trained, tokenizer, rows, True) - solution_logprob(trained, tokenizer, rows, False)
    assert margin_trained > margin_base + 0.1, (margin_base, margin_trained)


@pytest.mark.slow
def test_quickstart_doubles_test_accuracy(tmp_path, cli_env):
    """The quickstart recipe, shortened to 12 steps, at least doubles the base's test accuracy
    (2026-12-03, 2 cores: 0.08 at step 0, 0.29 at step 8, 0.97 at step 12, 1.00 at 16 and 20)."""
    run = [sys.executable, "-m", "grpo.cli", "train", str(QUICKSTART), f"output_dir={tmp_path}", "name=qs",
           "trainer.steps=12", "rollout.prompts_per_step=8", "trainer.learning_rate=5e-5", "eval.every_steps=0",
           "eval.num_prompts=100", "logging.progress=false"]
    subprocess.run(run, check=True, env=cli_env, cwd=ROOT, capture_output=True)
    evals = [m for m in read_metrics(tmp_path / "qs") if "eval/accuracy" in m]
    before, after = evals[0]["eval/accuracy"], evals[-1]["eval/accuracy"]
    assert after >= max(2 * before, before + 0.2), (before, after)


def test_time_limit_stops_with_a_checkpoint_and_resume_finishes(tmp_path, ray_cluster):
    from grpo.runs import describe
    from grpo.trainer import TimeLimitReached, train

    # a limit shorter than any step: the run stops after its first one (checkpoint.every_steps=2 would not save it)
    with pytest.raises(TimeLimitReached) as stopped:
        train(small_recipe(tmp_path, "limited", "trainer.steps=2", "trainer.time_limit_minutes=1e-6"))
    assert (stopped.value.step, stopped.value.steps) == (1, 2)
    assert stopped.value.checkpoint == tmp_path / "limited" / "checkpoints" / "step_000001"
    assert (stopped.value.checkpoint / "model" / "config.json").exists()
    assert not (tmp_path / "limited" / "error.log").exists()  # not a failure
    assert describe(tmp_path / "limited").status == "resumable"
    summary = train(small_recipe(tmp_path, "limited", "trainer.steps=2"), resume=True)
    assert summary.steps == 2
    assert [m["step"] for m in read_metrics(tmp_path / "limited") if "reward/mean" in m] == [1, 2]
