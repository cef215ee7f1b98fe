"""Run-folder outputs: metrics.jsonl, sampled traces, console progress, TensorBoard / W&B.

Metric names (the same in code, logs and README):
  reward/mean, reward/std             weighted total reward over the step's completions
  reward/<verifier>                   a verifier's mean where it applied
  reward/<verifier>/failures          samples where it raised or timed out
  accuracy                            share of completions the correctness verifier scores >= 0.5
  completion/length_mean, _max        completion tokens
  completion/length_correct_mean, completion/length_incorrect_mean   split by the correctness verifier
  completion/truncated                share cut by max_completion_tokens
  groups/informative                  share of groups whose rewards differ (non-zero advantage)
  train/loss, train/clip_fraction, train/kl, train/entropy, train/grad_norm, train/lr
  time/generate, time/rewards, time/train, time/sync, time/step   seconds
  eval/accuracy, eval/pass@k, eval/reward/<verifier>              test split
"""

from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path
from typing import Any

TIMING_PREFIX = "time/"


class RunLogger:
    def __init__(self, run_dir: Path, total_steps: int, *, progress: bool = True, tracking: Any = None,
                 config: dict[str, Any] | None = None, label: str = ""):
        """tracking: the recipe's `logging` section, whose trackers (TensorBoard, W&B, MLflow) also
        get every logged metric; None: metrics.jsonl and the console only."""
        self.run_dir = run_dir
        self.metrics_path = run_dir / "metrics.jsonl"
        self.samples_dir = run_dir / "samples"
        self.samples_dir.mkdir(parents=True, exist_ok=True)
        self.total_steps = total_steps
        self.progress = progress
        self.label = f"{label} " if label else ""  # a pipeline's `[stage 3/5 generate]` before each line
        self.started = time.time()
        self.steps_logged = 0
        from grpo.tracking import open_trackers

        self.trackers = open_trackers(run_dir, tracking, config) if tracking is not None else []

    def truncate_after(self, step: int) -> None:
        """On resume, forget metrics of steps after the checkpoint; they will be recomputed."""
        if not self.metrics_path.exists():
            return
        kept = [line for line in self.metrics_path.read_text().splitlines() if line.strip() and json.loads(line)["step"] <= step]
        self.metrics_path.write_text("".join(line + "\n" for line in kept))

    def log(self, step: int, metrics: dict[str, Any]) -> None:
        record = {"step": step, **{k: _clean(v) for k, v in metrics.items()}}
        with self.metrics_path.open("a") as handle:
            handle.write(json.dumps(record) + "\n")
        for tracker in self.trackers:
            tracker.log(step, {k: v for k, v in record.items() if k != "step" and v is not None})
        if self.progress and ("reward/mean" in metrics or "train/loss" in metrics):
            self.steps_logged += 1
            self._print_progress(step, metrics)
        elif self.progress and any(k.startswith("eval/") for k in metrics):
            parts = [f"{k.removeprefix('eval/')} {v:.3f}" for k, v in metrics.items()
                     if k.startswith("eval/") and isinstance(v, float) and k.removeprefix("eval/") not in _QUIET]
            print(f"{self.label}[eval @ step {step}] " + "  ".join(parts), flush=True)

    def say(self, text: str) -> None:
        """A console line between steps (start-up, phases), under the run's label; silent without progress."""
        if self.progress:
            print(f"{self.label}{text}", flush=True)

    def _print_progress(self, step: int, metrics: dict[str, Any]) -> None:
        seconds = metrics.get("time/step", 0.0)
        elapsed = time.time() - self.started
        eta = elapsed / self.steps_logged * (self.total_steps - step)
        if "reward/mean" in metrics:
            what = (f"reward {metrics['reward/mean']:.3f}  acc {metrics.get('accuracy', float('nan')):.3f}  "
                    f"len {metrics.get('completion/length_mean', 0):.0f}")
            if "episode/tool_use_rate" in metrics:
                what += f"  tool {metrics['episode/tool_use_rate']:.2f}"
        else:  # a supervised step
            what = f"loss {metrics['train/loss']:.4f}  lr {metrics.get('train/lr', 0.0):.2e}"
        line = f"{self.label}step {step:>4}/{self.total_steps}  {what}  {seconds:.1f}s/step  ETA {_clock(eta)}"
        print(line, file=sys.stdout, flush=True)

    def write_samples(self, step: int, samples: list[dict[str, Any]], kind: str = "step") -> None:
        """samples/step_N.jsonl (training samples) or samples/eval_N.jsonl (greedy test samples)."""
        path = self.samples_dir / f"{kind}_{step:06d}.jsonl"
        path.write_text("".join(json.dumps(s, default=str) + "\n" for s in samples))

    def close(self) -> None:
        for tracker in self.trackers:
            tracker.close()
        self.trackers = []


def read_metrics(run_dir: Path) -> list[dict[str, Any]]:
    path = Path(run_dir) / "metrics.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []


# episode metrics kept out of the eval line (they are in metrics.jsonl): the line stays readable
_QUIET = {"episode/tool_errors", "episode/tool_seconds", "episode/env_tokens", "episode/env_seconds", "episode/env_failures"}


def _clean(value: Any) -> Any:
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    return value


def _clock(seconds: float) -> str:
    seconds = int(max(0, seconds))
    return f"{seconds // 60}:{seconds % 60:02d}"
