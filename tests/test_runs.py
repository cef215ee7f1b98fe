"""`grpo runs`: the status of each run folder, from the files a run leaves."""

from __future__ import annotations

import json
import os
import time

import yaml

from grpo.cli import main
from grpo.lock import RunLock
from grpo.runs import find_runs


def make_run(folder, steps_total=3, done=2, checkpoints=(), error=False, stages=None):
    folder.mkdir(parents=True)
    config = {"name": folder.name, "trainer": {"steps": steps_total}}
    if stages:
        config["stages"] = [{"name": name} for name in stages]
    (folder / "config.yaml").write_text(yaml.safe_dump(config))
    if not stages:
        lines = [{"step": s, "reward/mean": 0.1 * s, "accuracy": 0.2 * s} for s in range(1, done + 1)]
        lines.append({"step": done, "eval/accuracy": 0.5})
        (folder / "metrics.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
        for step in checkpoints:
            (folder / "checkpoints" / f"step_{step:06d}").mkdir(parents=True)
    if error:
        time.sleep(0.01)
        (folder / "error.log").write_text("Traceback ...")
        os.utime(folder / "error.log", (time.time() + 5, time.time() + 5))
    return folder


def test_status_of_each_kind_of_run(tmp_path):
    make_run(tmp_path / "done", done=3, checkpoints=(2, 3))
    make_run(tmp_path / "halfway", checkpoints=(2,))
    make_run(tmp_path / "crashed", checkpoints=(2,), error=True)
    make_run(tmp_path / "fresh", done=0)
    busy = make_run(tmp_path / "busy", checkpoints=(1,))
    pipeline = make_run(tmp_path / "r1", stages=["cold", "rl"])
    make_run(pipeline / "stages" / "cold", done=3, checkpoints=(3,))
    (pipeline / "stages" / "cold" / "stage.json").write_text(json.dumps({"status": "completed"}))
    make_run(pipeline / "stages" / "rl", done=1, checkpoints=(1,))
    with RunLock(busy):
        runs = {run.path.name: run for run in find_runs(tmp_path)}
    assert {name: run.status for name, run in runs.items()} == {
        "done": "finished", "halfway": "resumable", "crashed": "failed", "fresh": "empty", "busy": "running",
        "r1": "resumable",
    }
    assert (runs["halfway"].steps_done, runs["halfway"].steps_total) == (2, 3)
    assert runs["halfway"].last == {"reward/mean": 0.2, "accuracy": 0.4, "eval/accuracy": 0.5}
    assert runs["r1"].kind == "pipeline" and runs["r1"].stage == "1/2 done, at rl"
    assert runs["r1"].steps_done == 1  # the stage in progress


def test_cli_prints_a_table_and_json(tmp_path, capsys):
    make_run(tmp_path / "halfway", checkpoints=(2,))
    assert main(["runs", str(tmp_path)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split()[:4] == ["run", "kind", "status", "steps"]
    assert out[1].split()[:4] == ["halfway", "grpo", "resumable", "2/3"]
    assert main(["runs", str(tmp_path), "--json"]) == 0
    [record] = json.loads(capsys.readouterr().out)
    assert record["status"] == "resumable" and record["last"]["eval/accuracy"] == 0.5
    assert main(["runs", str(tmp_path / "nowhere")]) == 2
