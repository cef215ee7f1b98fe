"""Trackers read back with their own tools: TensorBoard's event reader, W&B's offline run file,
MLflow's client against a local store and against a real `mlflow server` started here."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest

from grpo.config import LoggingConfig, RecipeError, check_trackers, recipe_from_dict
from grpo.logging import RunLogger

STEPS = [{"reward/mean": 0.25, "accuracy": 0.5, "train/loss": 1.5}, {"reward/mean": 0.5, "accuracy": 0.75, "train/loss": 1.0},
         {"reward/mean": 0.75, "accuracy": 1.0, "train/loss": 0.5}]
CONFIG = {"name": "tracked", "trainer": {"learning_rate": 3e-5, "steps": 3}}


def log_three_steps(run_dir: Path, **trackers) -> None:
    logger = RunLogger(run_dir, 3, progress=False, config=CONFIG, tracking=LoggingConfig(**trackers))
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


def check_mlflow_run(uri: str, run_dir: Path) -> None:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    run = client.get_run((run_dir / "mlflow_run_id").read_text())
    history = client.get_metric_history(run.info.run_id, "reward/mean")
    assert [(m.step, m.value) for m in history] == [(1, 0.25), (2, 0.5), (3, 0.75)]
    assert [(m.step, m.value) for m in client.get_metric_history(run.info.run_id, "eval/accuracy")] == [(3, 0.9)]
    assert run.data.params["trainer.learning_rate"] == "3e-05" and run.data.params["name"] == "tracked"
    assert run.info.status == "FINISHED" and run.info.run_name == run_dir.name
    assert client.get_experiment(run.info.experiment_id).name == "grpo-test"


def test_mlflow_local_store_reads_back(tmp_path):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    log_three_steps(tmp_path / "run", mlflow_tracking_uri=uri, mlflow_experiment="grpo-test")
    check_mlflow_run(uri, tmp_path / "run")


def test_mlflow_server_reads_back(tmp_path):
    import socket
    import subprocess
    import sys
    import time
    import urllib.request

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
         "--backend-store-uri", f"sqlite:///{tmp_path}/server.db", "--default-artifact-root", str(tmp_path / "artifacts"),
         "--workers", "1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    try:
        deadline = time.time() + 90
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2)
                break
            except OSError:
                assert server.poll() is None and time.time() < deadline, "mlflow server did not start"
                time.sleep(0.5)
        uri = f"http://127.0.0.1:{port}"
        log_three_steps(tmp_path / "run", mlflow_tracking_uri=uri, mlflow_experiment="grpo-test")
        check_mlflow_run(uri, tmp_path / "run")
    finally:
        import os
        import signal

        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


@pytest.mark.parametrize("key, value, package", [("tensorboard", True, "tensorboard"), ("wandb_project", "p", "wandb"),
                                                 ("mlflow_tracking_uri", "file:./mlruns", "mlflow")])
def test_a_tracker_without_its_package_is_refused_at_load(monkeypatch, key, value, package):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == package else real(name, *a))
    recipe = recipe_from_dict({"name": "t", "model": {"path": "m"}, "data": {"train": {"task": "arithmetic", "num_samples": 4}},
                               "rewards": {"verifiers": [{"name": "answer"}]}, "logging": {key: value}})
    with pytest.raises(RecipeError, match=rf"logging.{key}: its package is not installed here; `pip install 'grpo\[{package}\]'`"):
        check_trackers(recipe)
