"""Datasets and reward functions written for verl / TinyZero train here unchanged."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq

from grpo.config import load_recipe
from grpo.logging import read_metrics
from grpo.trainer import train
from tests.conftest import ROOT, load_module, TINY_BASE

EXAMPLE = ROOT / "examples" / "verl_format"


def test_verl_parquet_with_a_verl_compute_score_trains_without_a_mapping(tmp_path, ray_cluster, monkeypatch):
    build = load_module(EXAMPLE / "build.py")
    for split, count in (("train", 64), ("test", 16)):
        pq.write_table(pa.Table.from_pylist(build.verl_rows(split, count)), tmp_path / f"{split}.parquet")
    monkeypatch.chdir(ROOT)
    recipe = load_recipe(EXAMPLE / "recipe.yaml", [
        f"output_dir={tmp_path}", f"model.path={TINY_BASE}", f"data.train.path={tmp_path}/train.parquet",
        f"data.test.path={tmp_path}/test.parquet", "data.test.num_samples=16", "trainer.steps=2",
        "rollout.prompts_per_step=8", "rollout.group_size=4", "eval.num_prompts=16", "checkpoint.every_steps=0",
        "logging.progress=false",
    ])
    assert recipe.data.answer_column == "answer" and recipe.data.prompt_column == "prompt"  # nothing mapped
    train(recipe)
    metrics = read_metrics(recipe.run_dir)
    steps = [m for m in metrics if "reward/mean" in m]
    assert len(steps) == 2 and "reward/compute_score" in steps[0]
    assert any(m.get("eval/accuracy", 0) > 0 for m in metrics)  # the ground truth reached the function
    record = json.loads((recipe.run_dir / "samples" / "step_000001.jsonl").read_text().splitlines()[0])
    assert record["answer"].isdigit()  # reward_model.ground_truth, read as the answer
    assert "formatted" in record["details"]["compute_score"]
