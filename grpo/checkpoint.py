"""Checkpoints: save a step atomically, verify it when resuming, prune old ones.

A checkpoint directory appears under its final name only after everything in it was written
(write to `.tmp`, then rename), so a run killed mid-save resumes from the previous one. Its
completion marker lists every file's size and SHA-256, so a checkpoint damaged *after* it was
written (a full disk, a bad copy) is recognised on resume: it is renamed aside, never deleted,
and the run continues from the newest intact one.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
from pathlib import Path
from typing import Any, Callable

from grpo.config import RecipeError

PREFIX = "step_"
COMPLETE = "driver_state.json"
DAMAGED = ".damaged"


class CheckpointError(RecipeError):
    """A checkpoint that cannot be written or used; the message says which and what to do."""


def checkpoint_dir(run_dir: Path, step: int) -> Path:
    return run_dir / "checkpoints" / f"{PREFIX}{step:06d}"


def manifest(folder: Path) -> dict[str, dict[str, Any]]:
    """relative path -> {size, sha256} of every file in `folder` (the marker itself excluded)."""
    found = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and p.name != COMPLETE):
        digest = hashlib.sha256()
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 22), b""):
                digest.update(block)
        found[str(path.relative_to(folder))] = {"size": path.stat().st_size, "sha256": digest.hexdigest()}
    return found


def save(run_dir: Path, step: int, write_learner: Callable[[str], None], driver_state: dict[str, Any], keep_last: int) -> Path:
    """Write the learner's files and the driver's state for `step` (steps completed), then prune.
    A failed write (ENOSPC, a dead actor) leaves every earlier checkpoint as it was."""
    final = checkpoint_dir(run_dir, step)
    staging = final.with_name(final.name + ".tmp")
    shutil.rmtree(staging, ignore_errors=True)
    try:
        staging.mkdir(parents=True)
        write_learner(str(staging))
        state = {"step": step, **driver_state, "files": manifest(staging)}
        (staging / COMPLETE).write_text(json.dumps(state, indent=2))
    except Exception as err:
        shutil.rmtree(staging, ignore_errors=True)
        earlier = [p.name for p in completed(run_dir)]
        raise CheckpointError(
            f"saving the checkpoint of step {step} failed ({_first_line(err)}); earlier checkpoints are intact "
            f"({', '.join(earlier) or 'none'}): fix the cause (disk space?) and continue with --resume"
        ) from None
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
    found = [p for p in root.iterdir() if p.is_dir() and p.name.startswith(PREFIX) and p.name[len(PREFIX):].isdigit()
             and (p / COMPLETE).exists()]
    return sorted(found, key=lambda p: int(p.name[len(PREFIX) :]))


def latest(run_dir: Path) -> Path | None:
    found = completed(run_dir)
    return found[-1] if found else None


def damage(checkpoint: Path) -> str | None:
    """What is wrong with a complete checkpoint's files (None: intact). Checkpoints written before
    the marker listed its files are trusted as they are."""
    try:
        recorded = json.loads((checkpoint / COMPLETE).read_text()).get("files")
    except (OSError, json.JSONDecodeError) as err:
        return f"{COMPLETE} unreadable ({err})"
    if recorded is None:
        return None
    for name, expected in recorded.items():
        path = checkpoint / name
        if not path.is_file():
            return f"{name} is missing"
        if path.stat().st_size != expected["size"]:
            return f"{name} is {path.stat().st_size} bytes, {expected['size']} were written"
    actual = manifest(checkpoint)
    for name, expected in recorded.items():
        if actual[name]["sha256"] != expected["sha256"]:
            return f"{name} does not match its checksum"
    return None


def choose(run_dir: Path, step: int | None = None) -> Path | None:
    """The checkpoint to resume from: `step` when given (refused if damaged), else the newest intact
    one; damaged newer ones are renamed aside with a warning naming the file."""
    found = completed(run_dir)
    if step is not None:
        chosen = checkpoint_dir(run_dir, step)
        if chosen not in found:
            raise CheckpointError(f"--resume-from {step}: no complete checkpoint of that step in {run_dir}/checkpoints "
                                  f"(have: {[int(p.name[len(PREFIX):]) for p in found] or 'none'})")
        problem = damage(chosen)
        if problem:
            raise CheckpointError(f"--resume-from {step}: {chosen} is damaged: {problem}; pick another step")
        return chosen
    for candidate in reversed(found):
        problem = damage(candidate)
        if problem is None:
            return candidate
        aside = candidate.with_name(candidate.name + DAMAGED)
        candidate.rename(aside)
        print(f"warning: checkpoint {candidate.name} is damaged ({problem}); renamed it to {aside.name} and resuming "
              "from the newest intact one", file=sys.stderr, flush=True)
    return None


def read_driver_state(checkpoint: Path) -> dict[str, Any]:
    return json.loads((checkpoint / COMPLETE).read_text())


def _first_line(err: BaseException) -> str:
    """The root cause's message: Ray wraps an actor's exception in a long traceback."""
    cause = getattr(err, "cause", None) or err
    text = f"{type(cause).__name__}: {cause}"
    lines = [line for line in text.splitlines() if line.strip()]
    errno_line = next((line for line in reversed(lines) if "Errno" in line), None)
    return (errno_line or lines[-1] if lines else type(err).__name__).strip()[:300]
