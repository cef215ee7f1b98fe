"""Checkpoints: save a step atomically, find the latest complete one, prune old ones.

A checkpoint directory appears under its final name only after everything in it was written
(write to `.tmp`, then rename), so a run killed mid-save resumes from the previous one.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any, Callable

PREFIX = "step_"
COMPLETE = "driver_state.json"


def checkpoint_dir(run_dir: Path, step: int) -> Path:
    return run_dir / "checkpoints" / f"{PREFIX}{step:06d}"


def save(run_dir: Path, step: int, write_learner: Callable[[str], None], driver_state: dict[str, Any], keep_last: int) -> Path:
    """Write the learner's files and the driver's state for `step` (steps completed), then prune."""
    final = checkpoint_dir(run_dir, step)
    staging = final.with_name(final.name + ".tmp")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    write_learner(str(staging))
    (staging / COMPLETE).write_text(json.dumps({"step": step, **driver_state}, indent=2))
    if final.exists():
        shutil.rmtree(final)
    staging.rename(final)
    for old in completed(run_dir)[:-keep_last]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def completed(run_dir: Path) -> list[Path]:
    """Complete checkpoint directories, oldest first."""
    root = run_dir / "checkpoints"
    if not root.is_dir():
        return []
    found = [p for p in root.iterdir() if p.is_dir() and p.name.startswith(PREFIX) and not p.name.endswith(".tmp") and (p / COMPLETE).exists()]
    return sorted(found, key=lambda p: int(p.name[len(PREFIX) :]))


def latest(run_dir: Path) -> Path | None:
    found = completed(run_dir)
    return found[-1] if found else None


def read_driver_state(checkpoint: Path) -> dict[str, Any]:
    return json.loads((checkpoint / COMPLETE).read_text())
