"""Run folders that meet real accidents: two launches into one folder at once, a damaged newest
checkpoint, a verifier plugin that returns NaN on a third of the samples (the damaged checkpoint is
one of that run's, so both share one run)."""

from __future__ import annotations

import math
import shutil
import subprocess
import sys

import pytest
import torch

from grpo.logging import read_metrics
from tests.conftest import ROOT, TINY_BASE

QUICKSTART = ROOT / "recipes" / "quickstart.yaml"
HOSTILE = ROOT / "tests" / "data" / "hostile_verifiers.py"


def cli(tmp_path, name, *extra):
    return [sys.executable, "-m", "grpo.cli", "train", str(QUICKSTART), f"output_dir={tmp_path}", f"name={name}",
            f"model.path={TINY_BASE}", "rollout.prompts_per_step=4", "rollout.group_size=4", "trainer.steps=4",
            "eval.num_prompts=8", "eval.every_steps=0", "checkpoint.every_steps=1", "logging.progress=false",
            "trainer.threads=2", *extra]


@pytest.mark.slow
def test_two_launches_into_one_folder_train_once(tmp_path, cli_env):
    # 2 steps: the second launch meets the lock seconds after both start, long before the first ends
    first = subprocess.Popen(cli(tmp_path, "twice", "trainer.steps=2"), env=cli_env, cwd=ROOT, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    second = subprocess.Popen(cli(tmp_path, "twice", "trainer.steps=2"), env=cli_env, cwd=ROOT, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    outcomes = sorted([(p.wait(timeout=600), p.communicate()) for p in (first, second)], key=lambda x: x[0])
    (ok, _), (refused, (_, err)) = outcomes
    assert ok == 0 and refused == 2
    assert "error: run folder" in err and "is in use by pid" in err and "Traceback" not in err
    steps = [m["step"] for m in read_metrics(tmp_path / "twice") if "reward/mean" in m]
    assert steps == [1, 2]  # each step once


def assert_finite_weights(checkpoint):
    from safetensors.torch import load_file

    weights = load_file(str(checkpoint / "model" / "model.safetensors"))
    assert all(torch.isfinite(t).all() for t in weights.values()), checkpoint.name


@pytest.fixture(scope="module")
def nan_run(tmp_path_factory, cli_env):
    """Two steps with a plugin that scores NaN on a third of the samples, checkpointed every step:
    read by the NaN test, and copied by the damaged-checkpoint test, which resumes it (one run for both).
    The plugin is named as a module of the folder the run starts in, which the reward worker on the
    joined cluster imports with no PYTHONPATH passed (grpo.cluster.joined_worker_env)."""
    root = tmp_path_factory.mktemp("nan")
    plugin = "tests.data.hostile_verifiers:nan_on_a_third"
    verifiers = f"rewards.verifiers=[{{name: answer}}, {{name: '{plugin}', weight: 0.5, fallback: 0.0}}]"
    extra = (verifiers, "rewards.correctness=answer")
    done = subprocess.run(cli(root, "nan", "trainer.steps=2", *extra), env=cli_env, cwd=ROOT, capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    return root / "nan", done.stdout + done.stderr, extra


@pytest.mark.slow
def test_a_truncated_newest_checkpoint_is_set_aside_and_the_run_finishes(tmp_path, nan_run, cli_env):
    source, _, extra = nan_run
    run = tmp_path / "nan"
    shutil.copytree(source, run)
    newest = run / "checkpoints" / "step_000002"
    state = newest / "learner_state.pt"
    state.write_bytes(state.read_bytes()[: state.stat().st_size // 2])  # as a full disk or a bad copy leaves it
    done = subprocess.run(cli(tmp_path, "nan", "trainer.steps=3", *extra, "--resume"), env=cli_env, cwd=ROOT,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "checkpoint step_000002 is damaged (learner_state.pt is" in done.stderr
    assert "resumed from" in done.stdout and "step_000001 (step 1)" in done.stdout
    assert (run / "checkpoints" / "step_000002.damaged" / "learner_state.pt").exists()
    steps = [m["step"] for m in read_metrics(run) if "reward/mean" in m]
    assert steps == [1, 2, 3]
    # the step redone after the damaged checkpoint met the NaN plugin too: its weights stayed finite
    assert_finite_weights(run / "checkpoints" / "step_000003")


@pytest.mark.slow
def test_a_plugin_scoring_nan_on_a_third_of_samples(nan_run):
    run, output, _ = nan_run
    metrics = [m for m in read_metrics(run) if "reward/mean" in m]
    assert len(metrics) == 2
    for m in metrics:
        assert m["reward/mean"] is not None and math.isfinite(m["reward/mean"])  # NaN would be logged as null
        assert math.isfinite(m["advantage/abs_mean"]) and math.isfinite(m["train/loss"])
        assert 0 < m["reward/nan_on_a_third/failures"] < 16
    assert "non-finite score" in output
    assert_finite_weights(run / "checkpoints" / "step_000002")


@pytest.mark.slow
def test_a_verifier_failing_everywhere_stops_in_one_line_with_the_traceback_in_the_log(tmp_path, cli_env):
    verifiers = f"rewards.verifiers=[{{name: answer}}, {{name: '{HOSTILE}:returns_a_string'}}]"
    done = subprocess.run(cli(tmp_path, "broken", verifiers, "rewards.correctness=answer"), env=cli_env, cwd=ROOT,
                          capture_output=True, text=True)
    assert done.returncode == 2
    error = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(error) == 1 and "verifier 'returns_a_string' failed on all" in error[0]
    assert "returned str" in error[0] and "Traceback" not in done.stderr
    assert "Traceback" in (tmp_path / "broken" / "error.log").read_text()
    assert not (tmp_path / "broken" / "checkpoints").exists()
