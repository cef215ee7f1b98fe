"""Faults during a run: a rollout worker and then a reward worker SIGKILLed mid-run are restarted,
and then the driver SIGKILLed between checkpoints, then --resume, loses no step (metrics identical
to an uninterrupted run); a learner rank SIGKILLed stops the run in one line without hanging, and
--resume finishes it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import psutil
import pytest

from grpo.logging import read_metrics
from tests.conftest import ROOT, TINY_BASE

QUICKSTART = ROOT / "recipes" / "quickstart.yaml"


def cli(tmp_path, name, *extra):
    return [sys.executable, "-m", "grpo.cli", "train", str(QUICKSTART), f"output_dir={tmp_path}", f"name={name}",
            f"model.path={TINY_BASE}", "rollout.prompts_per_step=4", "rollout.group_size=4", "trainer.steps=5",
            "eval.at_start=false", "eval.num_prompts=8", "checkpoint.every_steps=1", "logging.progress=false",
            "trainer.threads=2", "rollout.colocate=false", *extra]


def pids_of(actor: str) -> list[int]:
    """This test session's `ray::<actor>` processes only. The CLI joins the session's cluster, whose
    raylet this pytest process started, so its workers descend from here (not from the CLI). Another
    run on the same machine (a quickstart beside CI) has its own and must not be killed."""
    found = []
    for process in psutil.Process().children(recursive=True):
        try:
            command = process.cmdline()
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
        if command and command[0].startswith(f"ray::{actor}"):
            found.append(process.pid)
    return sorted(found)


def kill_after_step(process, run_dir, step: int, actor: str) -> int:
    deadline = time.time() + 300
    while time.time() < deadline and process.poll() is None:
        done = [m["step"] for m in read_metrics(run_dir) if "reward/mean" in m]
        targets = pids_of(actor)
        if done and max(done) >= step and targets:
            os.kill(targets[0], signal.SIGKILL)
            return targets[0]
        time.sleep(0.05)
    raise AssertionError(f"never reached step {step} with a live {actor}")


def without_timings(metrics):
    return [{k: v for k, v in m.items() if not k.startswith(("time/", "memory/"))} for m in metrics]


@pytest.fixture(scope="module")
def whole_run(tmp_path_factory, cli_env):
    """The uninterrupted run the driver and worker faults are compared with (same recipe), trained once."""
    root = tmp_path_factory.mktemp("faults")
    subprocess.run(cli(root, "whole"), env=cli_env, cwd=ROOT, check=True, capture_output=True)
    return without_timings(read_metrics(root / "whole"))


@pytest.mark.slow
def test_killed_workers_then_a_killed_driver_lose_no_step(tmp_path, whole_run, cli_env):
    """One run takes three faults in turn: the rollout worker SIGKILLed after step 1 and the reward
    worker after step 2 (Ray restarts each), then the driver and all its workers after the step-3
    checkpoint; --resume finishes it. Any lost or repeated work changes the metrics, so all three
    are checked against the uninterrupted run at once (one CLI run instead of three, ~30 s of CI).
    Also the determinism check: steps drawn afresh from the same seed in other processes (the
    restarted workers, the resumed driver) must equal the uninterrupted run's metric for metric."""
    log = tmp_path / "killed.err"
    with open(log, "w") as err:
        process = subprocess.Popen(cli(tmp_path, "killed"), env=cli_env, cwd=ROOT, stdout=subprocess.DEVNULL,
                                   stderr=err, start_new_session=True)
        kill_after_step(process, tmp_path / "killed", 1, "RolloutWorker")
        kill_after_step(process, tmp_path / "killed", 2, "RewardWorker")
        target = tmp_path / "killed" / "checkpoints" / "step_000003" / "driver_state.json"
        deadline = time.time() + 300
        while not target.exists() and time.time() < deadline and process.poll() is None:
            time.sleep(0.1)
        assert target.exists(), f"the run never reached its step-3 checkpoint: {log.read_text()[-2000:]}"
        os.killpg(process.pid, signal.SIGKILL)  # the driver and its Ray workers
        process.wait()
    assert "rollout worker" in log.read_text(), log.read_text()[-2000:]  # the restart was reported
    done = [m["step"] for m in read_metrics(tmp_path / "killed") if "reward/mean" in m]
    assert 3 <= max(done) < 5, "kill the run between the checkpoint and the end"
    subprocess.run(cli(tmp_path, "killed", "--resume"), env=cli_env, cwd=ROOT, check=True, capture_output=True)
    killed = read_metrics(tmp_path / "killed")
    assert [m["step"] for m in killed if "reward/mean" in m] == [1, 2, 3, 4, 5]
    assert without_timings(killed) == whole_run


@pytest.mark.slow
def test_a_killed_learner_rank_stops_the_run_cleanly_and_resume_finishes_it(tmp_path, cli_env):
    command = cli(tmp_path, "ranks", "trainer.world_size=2", "trainer.steps=3", "trainer.threads=1")
    process = subprocess.Popen(command, env=cli_env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    kill_after_step(process, tmp_path / "ranks", 2, "Learner")
    started = time.time()
    _, err = process.communicate(timeout=300)
    assert time.time() - started < 120  # stopped, not hung in a collective
    assert process.returncode == 2
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "learner rank" in errors[0] and "--resume" in errors[0], err[-2000:]
    done = subprocess.run(command + ["--resume"], env=cli_env, cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    steps = [m["step"] for m in read_metrics(tmp_path / "ranks") if "reward/mean" in m]
    assert steps == [1, 2, 3]
