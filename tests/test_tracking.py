"""Trackers read back with their own formats: TensorBoard's event reader, W&B's offline run file."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest

from grpo.config import RecipeError, check_trackers, recipe_from_dict
from grpo.logging import RunLogger

STEPS = [{"reward/mean": 0.25, "accuracy": 0.5, "train/loss": 1.5}, {"reward/mean": 0.5, "accuracy": 0.75, "train/loss": 1.0},
         {"reward/mean": 0.75, "accuracy": 1.0, "train/loss": 0.5}]
CONFIG = {"name": "tracked", "trainer": {"learning_rate": 3e-5, "steps": 3}}


def log_three_steps(run_dir: Path, **trackers) -> None:
    logger = RunLogger(run_dir, 3, progress=False, config=CONFIG, **trackers)
    for step, metrics in enumerate(STEPS, start=1):
        logger.log(step, metrics)
    logger.log(3, {"eval/accuracy": 0.9})
    logger.close()


def test_tensorboard_event_files_read_back_with_tensorboards_reader(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    log_three_steps(tmp_path, tensorboard=True)
    events = EventAccumulator(str(tmp_path / "tensorboard"), size_guidance={"tensors": 0, "scalars": 0})
    events.Reload()
    assert [(e.step, e.value) for e in events.Scalars("reward/mean")] == [(1, 0.25), (2, 0.5), (3, 0.75)]
    assert [e.value for e in events.Scalars("accuracy")] == [0.5, 0.75, 1.0]
    assert [(e.step, round(e.value, 6)) for e in events.Scalars("eval/accuracy")] == [(3, 0.9)]
    recipe_text = events.Tensors("recipe/text_summary")[0].tensor_proto.string_val[0].decode()
    assert '"learning_rate": 3e-05' in recipe_text


def wandb_records(path: Path):
    """The protobuf records of a W&B `.wandb` run file: a 7-byte `:W&B` header, then a LevelDB-style
    log (32 KiB blocks; 7-byte chunk headers: crc32 (4), length (2), type (1): full, first, middle,
    last). Written here because wandb 0.31 ships no Python reader for it."""
    from wandb.proto import wandb_internal_pb2 as pb

    data = path.read_bytes()
    assert data[:4] == b":W&B", data[:8]
    position, block, pending = 7, 32768, b""
    while position + 7 <= len(data):
        if block - position % block < 7:  # too little left in this block for a header: padding
            position += block - position % block
            continue
        _, length, kind = struct.unpack("<IHB", data[position:position + 7])
        chunk = data[position + 7:position + 7 + length]
        position += 7 + length
        if kind == 1:
            pending = chunk
        elif kind == 2:
            pending = chunk
            continue
        elif kind == 3:
            pending += chunk
            continue
        elif kind == 4:
            pending += chunk
        else:
            continue
        record = pb.Record()
        record.ParseFromString(pending)
        yield record


def test_wandb_offline_run_file_reads_back(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    log_three_steps(tmp_path, wandb_project="grpo-test")
    [run_file] = list((tmp_path / "wandb").glob("offline-run-*/run-*.wandb"))
    history, config = [], {}
    for record in wandb_records(run_file):
        kind = record.WhichOneof("record_type")
        if kind == "history":
            history.append({item.key or "/".join(item.nested_key): json.loads(item.value_json) for item in record.history.item})
        elif kind in ("run", "config"):  # the config given to wandb.init arrives with the run record
            updates = record.run.config.update if kind == "run" else record.config.update
            config.update({item.key: json.loads(item.value_json) for item in updates})
    rewards = [(row["_step"], row["reward/mean"]) for row in history if "reward/mean" in row]
    assert rewards == [(1, 0.25), (2, 0.5), (3, 0.75)]
    assert any(row.get("eval/accuracy") == 0.9 for row in history)
    assert config["trainer"] == {"learning_rate": 3e-5, "steps": 3} and config["name"] == "tracked"
    # a resumed run continues the same W&B run
    assert (tmp_path / "wandb_id").read_text() == run_file.stem.removeprefix("run-")


@pytest.mark.parametrize("key, value, package", [("tensorboard", True, "tensorboard"), ("wandb_project", "p", "wandb")])
def test_a_tracker_without_its_package_is_refused_at_load(monkeypatch, key, value, package):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == package else real(name, *a))
    recipe = recipe_from_dict({"name": "t", "model": {"path": "m"}, "data": {"train": {"task": "arithmetic", "num_samples": 4}},
                               "rewards": {"verifiers": [{"name": "answer"}]}, "logging": {key: value}})
    with pytest.raises(RecipeError, match=rf"logging.{key}: its package is not installed here; `pip install 'grpo\[{package}\]'`"):
        check_trackers(recipe)
