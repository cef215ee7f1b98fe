"""`grpo runs [DIR]`: the run folders under DIR, what state each is in and where it got to.

status: running (a process holds the folder's lock), finished (the final step's checkpoint, or
every pipeline stage completed), failed (an error.log newer than its last progress), resumable
(an intact checkpoint to continue from: `grpo train RECIPE --resume`), or empty (nothing to
resume from yet).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from grpo.checkpoint import PREFIX as STEP_PREFIX
from grpo.lock import is_held
from grpo.logging import read_metrics


@dataclass
class RunInfo:
    path: Path
    kind: str  # grpo | sft | pipeline
    status: str
    steps_done: int
    steps_total: int | None
    last: dict[str, float] = field(default_factory=dict)
    stage: str | None = None  # pipelines: the stage in progress or the last one


def find_runs(root: Path) -> list[RunInfo]:
    """Every run folder (a config.yaml beside metrics, checkpoints or stages) under `root`; a run's
    own sub-folders (its stages) are reported as part of it, not as runs of their own."""
    root = Path(root)
    found: list[RunInfo] = []
    candidates = [root] if _is_run(root) else []
    if not candidates:
        candidates = sorted(p.parent for p in root.rglob("config.yaml") if _is_run(p.parent))
    inside_a_run: list[Path] = []
    for folder in candidates:
        if any(parent in inside_a_run for parent in folder.parents):
            continue
        inside_a_run.append(folder)
        found.append(describe(folder))
    return found


def describe(folder: Path) -> RunInfo:
    config = _config(folder)
    if "stages" in config or (folder / "stages").is_dir():
        return _pipeline(folder, config)
    return _single(folder, config, kind=str(config.get("kind", "grpo")))


def _single(folder: Path, config: dict[str, Any], kind: str) -> RunInfo:
    metrics = read_metrics(folder)
    progress = [m for m in metrics if "reward/mean" in m or "train/loss" in m]
    done = int(progress[-1]["step"]) if progress else 0
    total = (config.get("trainer") or {}).get("steps")
    steps = _checkpoint_steps(folder)
    last: dict[str, float] = {}
    if progress:
        last.update({k: progress[-1][k] for k in ("reward/mean", "accuracy", "train/loss") if k in progress[-1]})
    evals = [m for m in metrics if "eval/accuracy" in m]
    if evals:
        last["eval/accuracy"] = evals[-1]["eval/accuracy"]
    if is_held(folder):
        status = "running"
    elif total is not None and total in steps or (folder / "stage.json").exists() and _stage_status(folder) == "completed":
        status = "finished"
    elif _failed_after(folder, metrics):
        status = "failed"
    elif steps:
        status = "resumable"
    else:
        status = "empty"
    return RunInfo(folder, kind, status, done, total, last)


def _pipeline(folder: Path, config: dict[str, Any]) -> RunInfo:
    names = [s.get("name") for s in config.get("stages", [])] or sorted(p.name for p in (folder / "stages").iterdir())
    infos = []
    for name in names:
        stage_dir = folder / "stages" / str(name)
        if stage_dir.is_dir():
            infos.append((name, _single(stage_dir, _config(stage_dir) or config, kind="stage")))
    completed = [n for n in names if _stage_status(folder / "stages" / str(n)) == "completed"]
    current = infos[-1] if infos else None
    if is_held(folder):
        status = "running"
    elif len(completed) == len(names):
        status = "finished"
    elif current is not None and current[1].status == "failed" or _failed_after(folder, []):
        status = "failed"
    elif completed or (current is not None and current[1].status == "resumable"):
        status = "resumable"
    else:
        status = "empty"
    stage = f"{len(completed)}/{len(names)} done" + (f", at {current[0]}" if current and current[0] not in completed else "")
    last = current[1].last if current else {}
    return RunInfo(folder, "pipeline", status, current[1].steps_done if current else 0,
                   current[1].steps_total if current else None, last, stage)


def _is_run(folder: Path) -> bool:
    return (folder / "config.yaml").is_file() and any(
        (folder / name).exists() for name in ("metrics.jsonl", "checkpoints", "stages", "stage.json"))


def _config(folder: Path) -> dict[str, Any]:
    try:
        loaded = yaml.safe_load((folder / "config.yaml").read_text())
    except (OSError, yaml.YAMLError):
        return {}
    return loaded if isinstance(loaded, dict) else {}


def _checkpoint_steps(folder: Path) -> list[int]:
    checkpoints = folder / "checkpoints"
    if not checkpoints.is_dir():
        return []
    steps = []
    for path in checkpoints.iterdir():
        if path.name.startswith(STEP_PREFIX) and not path.name.endswith(".damaged"):
            try:
                steps.append(int(path.name.removeprefix(STEP_PREFIX)))
            except ValueError:
                continue
    return sorted(steps)


def _stage_status(folder: Path) -> str | None:
    try:
        return json.loads((folder / "stage.json").read_text()).get("status")
    except (OSError, json.JSONDecodeError):
        return None


def _failed_after(folder: Path, metrics: list[dict[str, Any]]) -> bool:
    """An error.log written after the run's last progress: it stopped on that error."""
    log = folder / "error.log"
    if not log.exists():
        return False
    progress = folder / "metrics.jsonl"
    return not progress.exists() or log.stat().st_mtime >= progress.stat().st_mtime


def table(runs: list[RunInfo], root: Path) -> str:
    if not runs:
        return f"no runs under {root}"
    header = ("run", "kind", "status", "steps", "reward", "acc", "eval acc", "stage")
    rows = [header]
    for run in runs:
        name = str(run.path.relative_to(root)) if run.path != root and root in run.path.parents else str(run.path)
        steps = f"{run.steps_done}/{run.steps_total}" if run.steps_total else str(run.steps_done)
        rows.append((name, run.kind, run.status, steps, _number(run.last.get("reward/mean", run.last.get("train/loss"))),
                     _number(run.last.get("accuracy")), _number(run.last.get("eval/accuracy")), run.stage or ""))
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows)


def _number(value: Any) -> str:
    return f"{value:.3f}" if isinstance(value, (int, float)) else ""
