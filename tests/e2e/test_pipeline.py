"""A four-stage pipeline on the tiny base (sft -> grpo -> generate -> distill), through the CLI: the
summary, the rejection-sampled dataset re-verified independently, and a SIGKILL during the third
stage followed by --resume that leaves the first two stages' files untouched."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from rewards import Sample, build
from tests.conftest import ROOT, TINY_BASE



def write_pipeline(tmp_path: Path) -> Path:
    arithmetic = {"task": "arithmetic", "task_kwargs": {"digits": 3}}
    raw = {
        "name": "mini", "seed": 0, "output_dir": str(tmp_path / "runs"),
        "model": {"path": str(TINY_BASE), "dtype": "float32"},
        "data": {"train": {**arithmetic, "num_samples": 200},
                 "test": {**arithmetic, "split": "test", "num_samples": 16}, "template": "r1_zero"},
        "rollout": {"group_size": 4, "prompts_per_step": 4, "max_completion_tokens": 96, "stop": ["</answer>"]},
        "rewards": {"correctness": "answer", "verifiers": [{"name": "answer"}, {"name": "format", "weight": 0.2}]},
        "trainer": {"learning_rate": 3e-5, "threads": 2},
        "eval": {"num_prompts": 16, "at_start": True},
        "checkpoint": {"every_steps": 1},
        "logging": {"progress": False, "samples_per_step": 2},
        "stages": [
            {"name": "cold", "kind": "sft", "data": {"train": {**arithmetic, "num_samples": 16, "seed": 1}},
             "sft": {"epochs": 1, "batch_size": 8,
                     "completion_format": " <think> {solution} </think> <answer> {answer} </answer>"},
             "trainer": {"learning_rate": 1e-4}},
            {"name": "rl", "kind": "grpo", "from": "cold", "trainer": {"steps": 2}},
            {"name": "rs", "kind": "generate", "from": "rl",
             "data": {"train": {**arithmetic, "num_samples": 24, "seed": 2}},
             "generate": {"samples_per_prompt": 2, "accept": ["answer", "format"], "chunk_prompts": 4}},
            {"name": "student", "kind": "distill", "from": str(TINY_BASE), "data": {"train": {"stage": "rs"}},
             "sft": {"epochs": 1, "batch_size": 8}, "trainer": {"learning_rate": 1e-4}},
        ],
    }
    path = tmp_path / "mini.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def fingerprints(folder: Path) -> dict[str, tuple[float, str]]:
    return {str(p.relative_to(folder)): (p.stat().st_mtime, hashlib.sha256(p.read_bytes()).hexdigest())
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.slow
def test_pipeline_runs_every_stage_and_resumes_the_interrupted_one(tmp_path, cli_env):
    recipe = write_pipeline(tmp_path)
    run = tmp_path / "runs" / "mini"
    command = [sys.executable, "-m", "grpo.cli", "train", str(recipe)]
    process = subprocess.Popen(command, env=cli_env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
    chunks = run / "stages" / "rs" / "chunks"
    deadline = time.time() + 600
    while time.time() < deadline and process.poll() is None and len(list(chunks.glob("chunk_*.json"))) < 2:
        time.sleep(0.2)
    assert len(list(chunks.glob("chunk_*.json"))) >= 2, "the run never reached the middle of the generate stage"
    os.killpg(process.pid, signal.SIGKILL)  # the driver and its Ray workers, mid-stage
    process.wait()
    assert json.loads((run / "stages" / "rs" / "stage.json").read_text())["status"] == "running"
    before = {name: fingerprints(run / "stages" / name) for name in ("cold", "rl")}
    done_chunks = fingerprints(chunks)
    assert 2 <= len(done_chunks) < 6

    refused = subprocess.run(command, env=cli_env, cwd=ROOT, capture_output=True, text=True)
    assert refused.returncode == 2 and "was interrupted" in refused.stderr and "--resume" in refused.stderr

    resumed = subprocess.run(command + ["--resume"], env=cli_env, cwd=ROOT, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "cold: completed earlier" in resumed.stdout and "rl: completed earlier" in resumed.stdout
    assert "rs: resuming" in resumed.stdout
    # stages 1-2 untouched: same files, same bytes, same modification times
    for name, files in before.items():
        assert fingerprints(run / "stages" / name) == files, name
    # stage 3 continued after its saved chunks instead of redoing them
    after_chunks = fingerprints(chunks)
    assert all(after_chunks[name] == value for name, value in done_chunks.items())
    assert len(after_chunks) == 6

    summary = json.loads((run / "summary.json").read_text())
    assert [(s["name"], s["kind"], s["status"]) for s in summary["stages"]] == [
        ("cold", "sft", "completed"), ("rl", "grpo", "completed"), ("rs", "generate", "completed"),
        ("student", "distill", "completed")]
    for stage in summary["stages"]:
        assert stage["seconds"] > 0
        if stage["kind"] != "generate":
            assert 0.0 <= stage["eval"]["eval/accuracy"] <= 1.0
            assert Path(stage["checkpoint"], "config.json").exists()
    generate = summary["stages"][2]
    assert generate["samples"] == 48 and 0 < generate["kept"] <= 48

    # every kept trace passes the verifiers again, scored here independently of the stage
    rows = [json.loads(line) for line in (run / "stages" / "rs" / "dataset.jsonl").read_text().splitlines()]
    assert len(rows) == generate["kept"]
    samples = [Sample(row["prompt"], row["completion"], row["answer"]) for row in rows]
    assert [r.value for r in build("answer", {})(samples)] == [1.0] * len(rows)
    assert [r.value for r in build("format", {})(samples)] == [1.0] * len(rows)
    assert all(row["provenance"]["stage"] == "rs" and row["provenance"]["checkpoint"].endswith("rl/model") for row in rows)

    # a finished pipeline run again runs nothing
    again = subprocess.run(command, env=cli_env, cwd=ROOT, capture_output=True, text=True)
    assert again.returncode == 0 and again.stdout.count("completed earlier") == 4


def small_pipeline(tmp_path: Path, stages: list[dict]) -> Path:
    raw = yaml.safe_load(write_pipeline(tmp_path).read_text())
    raw["stages"] = stages
    path = tmp_path / "small.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def test_a_generate_stage_that_keeps_nothing_stops_with_the_counts(tmp_path, cli_env):
    impossible = {"name": "rs", "kind": "generate", "data": {"train": {"task": "arithmetic", "num_samples": 4}},
                  "generate": {"samples_per_prompt": 2, "accept": ["answer", "format"], "accept_threshold": 1.5}}
    done = subprocess.run([sys.executable, "-m", "grpo.cli", "train", str(small_pipeline(tmp_path, [impossible]))],
                          env=cli_env, cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 2, done.stderr[-2000:]
    error = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(error) == 1 and "Traceback" not in done.stderr
    assert "kept 0 of 8 samples (4 prompts x 2)" in error[0] and "answer 0/8, format 0/8" in error[0]
    assert "generate.samples_per_prompt" in error[0]
    state = json.loads((tmp_path / "runs" / "mini" / "stages" / "rs" / "stage.json").read_text())
    assert state["status"] == "failed" and "kept 0 of 8" in state["error"]


def test_a_student_whose_tokenizer_cannot_write_the_template_fails_before_any_stage(tmp_path, cli_env):
    from tests.test_model_source import word_level_tokenizer

    student = tmp_path / "student"
    import shutil

    shutil.copytree(TINY_BASE, student)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        (student / name).unlink(missing_ok=True)
    word_level_tokenizer(student)
    stages = yaml.safe_load(write_pipeline(tmp_path).read_text())["stages"]
    stages[3]["from"] = str(student)
    done = subprocess.run([sys.executable, "-m", "grpo.cli", "train", str(small_pipeline(tmp_path, stages))],
                          env=cli_env, cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 2
    assert "error: stage 'student': the tokenizer of stages[3].model" in done.stderr and "'<think>'" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "runs" / "mini" / "stages" / "cold").exists()  # nothing ran


def test_a_time_limit_stops_an_sft_stage_and_resume_finishes_it(tmp_path, ray_cluster):
    from grpo.logging import read_metrics
    from grpo.pipeline import read_state, run_pipeline
    from grpo.stages import load_pipeline, stage_dir
    from grpo.trainer import TimeLimitReached

    path = write_pipeline(tmp_path)
    run = tmp_path / "runs" / "mini"
    # 16 examples in batches of 8: two SFT steps; a limit shorter than one step stops after the first
    with pytest.raises(TimeLimitReached) as stopped:
        run_pipeline(load_pipeline(path, ["trainer.time_limit_minutes=1e-6"]), only="cold")
    assert (stopped.value.step, stopped.value.steps) == (1, 2)
    assert stopped.value.checkpoint.name == "step_000001"  # the every-step checkpoint, not a second save
    assert read_state(run, "cold")["status"] == "stopped"
    run_pipeline(load_pipeline(path, []), resume=True, only="cold")
    assert read_state(run, "cold")["status"] == "completed"
    assert [m["step"] for m in read_metrics(stage_dir(run, "cold")) if "time/step" in m] == [1, 2]
