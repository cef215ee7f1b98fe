"""`grpo plot RUN_DIR`: PNG curves of a run and a Markdown page of its sampled traces.

The curves R1-Zero is judged by: reward, test accuracy, completion length (it grows as the
model learns to reason), entropy, KL and clip fraction. The traces page is where a person looks
for the "aha" moment: the same kind of prompt answered at early, middle and late steps.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from grpo.logging import read_metrics

CURVES = [
    ("reward", ["reward/mean"], "reward"),
    ("accuracy", ["accuracy", "eval/accuracy"], "accuracy (train samples, test split)"),
    ("completion_length", ["completion/length_mean", "eval/length_mean"], "completion tokens"),
    ("entropy", ["train/entropy"], "token entropy (nats)"),
    ("kl", ["train/kl"], "KL to the reference"),
    ("clip_fraction", ["train/clip_fraction"], "clipped token fraction"),
]


def plot_run(run_dir: Path, trace_steps: list[int] | None = None, traces_per_step: int = 3) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metrics = read_metrics(run_dir)
    if not metrics:
        raise FileNotFoundError(f"{run_dir} holds no metrics.jsonl; pass a run folder (runs/<name>)")
    out = run_dir / "plots"
    out.mkdir(exist_ok=True)
    written = []
    for name, keys, label in CURVES:
        series = {key: [(m["step"], m[key]) for m in metrics if m.get(key) is not None] for key in keys}
        series = {k: v for k, v in series.items() if v}
        if not series:
            continue
        figure, axis = plt.subplots(figsize=(6, 3.5))
        for key, points in series.items():
            steps, values = zip(*points)
            axis.plot(steps, values, marker="o" if len(points) < 30 else None, markersize=3, label=key)
        axis.set_xlabel("step")
        axis.set_ylabel(label)
        axis.set_title(f"{run_dir.name}: {label}")
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8)
        figure.tight_layout()
        path = out / f"{name}.png"
        figure.savefig(path, dpi=110)
        plt.close(figure)
        written.append(path)
    written.append(write_traces(run_dir, out, trace_steps, traces_per_step))
    return written


def write_traces(run_dir: Path, out: Path, trace_steps: list[int] | None, per_step: int) -> Path:
    files = sorted((run_dir / "samples").glob("step_*.jsonl"))
    available = [int(f.stem.split("_")[1]) for f in files]
    if trace_steps is None and available:
        trace_steps = sorted({available[0], available[len(available) // 2], available[-1]})
    lines = [f"# Sampled traces of {run_dir.name}", ""]
    for step in trace_steps or []:
        path = run_dir / "samples" / f"step_{step:06d}.jsonl"
        if not path.exists():
            lines += [f"## Step {step}", "", "_no samples were written at this step_", ""]
            continue
        records = [json.loads(line) for line in path.read_text().splitlines()[:per_step]]
        lines += [f"## Step {step}", ""]
        for record in records:
            lines += _trace(record)
    page = out / "traces.md"
    page.write_text("\n".join(lines) + "\n")
    return page


def _trace(record: dict[str, Any]) -> list[str]:
    scores = ", ".join(f"{k} {v}" for k, v in record.get("scores", {}).items())
    return [
        f"**Prompt:** {str(record.get('prompt'))[-300:]}  ",
        f"**Reference:** {record.get('answer')} · **reward** {record.get('reward')} ({scores}) · "
        f"{record.get('completion_tokens')} tokens, {record.get('finish_reason')}",
        "", "```", str(record.get("completion", "")).strip(), "```", "",
    ]
