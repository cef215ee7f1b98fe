"""Experiment trackers a run also logs to: TensorBoard (`logging.tensorboard: true`) and Weights &
Biases (`logging.wandb_project: NAME`; `WANDB_MODE=offline` works without an account) and MLflow
(`logging.mlflow_tracking_uri: URI`, a local store or a server). Each is an
optional extra; a recipe asking for one whose package is missing is refused at load with the
install line, not an hour in. The resolved recipe goes in as the run's config.
"""

from __future__ import annotations

import importlib.util
import json
import secrets
from pathlib import Path
from typing import Any, Protocol

INSTALL = {"tensorboard": "pip install 'grpo[tensorboard]'", "wandb": "pip install 'grpo[wandb]'",
           "mlflow": "pip install 'grpo[mlflow]'"}


class Tracker(Protocol):
    def log(self, step: int, metrics: dict[str, float]) -> None: ...

    def close(self) -> None: ...


def missing_packages(logging_config: Any) -> list[tuple[str, str]]:
    """(recipe key, install line) of every requested tracker whose package is not installed."""
    wanted = []
    if logging_config.tensorboard:
        wanted.append(("logging.tensorboard", "tensorboard"))
    if logging_config.wandb_project:
        wanted.append(("logging.wandb_project", "wandb"))
    if logging_config.mlflow_tracking_uri:
        wanted.append(("logging.mlflow_tracking_uri", "mlflow"))
    return [(key, INSTALL[package]) for key, package in wanted if importlib.util.find_spec(package) is None]


def open_trackers(run_dir: Path, logging_config: Any, config: dict[str, Any] | None) -> list[Tracker]:
    trackers: list[Tracker] = []
    if logging_config.tensorboard:
        trackers.append(TensorBoard(run_dir / "tensorboard", config or {}))
    if logging_config.wandb_project:
        trackers.append(WandB(run_dir, logging_config.wandb_project, config or {}))
    if logging_config.mlflow_tracking_uri:
        trackers.append(MLflow(run_dir, logging_config.mlflow_tracking_uri, logging_config.mlflow_experiment, config or {}))
    return trackers


class TensorBoard:
    """Event files under run_dir/tensorboard: every numeric metric as a scalar; the recipe as text."""

    def __init__(self, directory: Path, config: dict[str, Any]):
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(str(directory))
        if config:
            self.writer.add_text("recipe", "```\n" + json.dumps(config, indent=2, default=str) + "\n```", 0)

    def log(self, step: int, metrics: dict[str, float]) -> None:
        for key, value in metrics.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                self.writer.add_scalar(key, value, step)
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


class WandB:
    """One W&B run per run folder (a resumed run continues it: the id is kept in wandb_id)."""

    def __init__(self, run_dir: Path, project: str, config: dict[str, Any]):
        import wandb

        id_file = run_dir / "wandb_id"
        run_id = id_file.read_text().strip() if id_file.exists() else secrets.token_hex(4)  # W&B ids: [a-z0-9]
        id_file.write_text(run_id)
        self.run = wandb.init(project=project, name=run_dir.name, id=run_id, config=config, resume="allow",
                              dir=str(run_dir))

    def log(self, step: int, metrics: dict[str, float]) -> None:
        self.run.log({k: v for k, v in metrics.items() if isinstance(v, (int, float))}, step=step)

    def close(self) -> None:
        import wandb

        self.run.finish()
        # finish() returns before W&B's service process has written the whole offline run file (CI
        # read a file with no history rows); teardown waits for that process, so the run folder is
        # complete when the logger closes, and a later run in this process starts a fresh service
        wandb.teardown()


class MLflow:
    """One MLflow run per run folder (a resumed run continues it: the id is kept in mlflow_run_id),
    through MlflowClient so nothing depends on MLflow's process-global active run."""

    def __init__(self, run_dir: Path, tracking_uri: str, experiment: str, config: dict[str, Any]):
        from mlflow.entities import Param
        from mlflow.tracking import MlflowClient

        self.client = MlflowClient(tracking_uri)
        found = self.client.get_experiment_by_name(experiment)
        experiment_id = found.experiment_id if found is not None else self.client.create_experiment(experiment)
        id_file = run_dir / "mlflow_run_id"
        if id_file.exists():
            self.run_id = id_file.read_text().strip()
            self.client.update_run(self.run_id, status="RUNNING")
        else:
            self.run_id = self.client.create_run(experiment_id, run_name=run_dir.name).info.run_id
            id_file.write_text(self.run_id)
            params = [Param(key, str(value)[:6000]) for key, value in flatten(config).items()]
            for start in range(0, len(params), 100):  # MLflow takes at most 100 params per batch
                self.client.log_batch(self.run_id, params=params[start:start + 100])

    def log(self, step: int, metrics: dict[str, float]) -> None:
        import time

        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        values = [Metric(key, float(value), now, step) for key, value in metrics.items()
                  if isinstance(value, (int, float)) and not isinstance(value, bool)]
        for start in range(0, len(values), 1000):
            self.client.log_batch(self.run_id, metrics=values[start:start + 1000])

    def close(self) -> None:
        self.client.set_terminated(self.run_id)


def flatten(config: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """{"trainer": {"steps": 3}} -> {"trainer.steps": 3}: the resolved recipe as MLflow params."""
    flat: dict[str, Any] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flat.update(flatten(value, name + "."))
        else:
            flat[name] = value
    return flat
