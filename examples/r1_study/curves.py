"""Part 1's curves over training, seeds side by side: greedy held-out accuracy, sampled accuracy,
mean completion length and self-check share, plus a table of 10-step windows.

Why windows and not only summarize.py's first-vs-last: on the study's base the self-check share and
the length rise, peak and fall again while accuracy keeps climbing; a first/last comparison alone
would hide the peak.

    python examples/r1_study/curves.py runs/r1-study-zero-0 runs/r1-study-zero-1 --out docs/r1_study/zero_curves.png
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

PANELS = [("eval/accuracy", "greedy test accuracy"), ("reward/countdown", "sampled accuracy (train)"),
          ("completion/length_mean", "mean completion tokens"), ("reward/self_check", "self-check share"),
          ("reward/arithmetic_check", "arithmetic steps right"), ("reward/language", "English share of the thought")]


def load(path: Path) -> list[dict]:
    """A run's metrics; for a pipeline folder (part 2), its GRPO stages' metrics one after the
    other, steps counted on, so R1's RL stages read as one curve beside R1-Zero's."""
    summary = path / "summary.json" if path.is_dir() else None
    if summary is not None and summary.exists():
        rows, offset = [], 0
        for stage in json.loads(summary.read_text())["stages"]:
            if stage["kind"] != "grpo":
                continue
            # a later stage's step-0 eval sits at the same step as the last one's final eval: the
            # vertical jump between them is what the SFT stages in between did
            part = load(path / "stages" / stage["name"])
            rows += [{**r, "step": r["step"] + offset, "stage": stage["name"]} for r in part]
            offset += max(r["step"] for r in part)
        return rows
    file = path / "metrics.jsonl" if path.is_dir() else path
    return [json.loads(line) for line in file.read_text().splitlines() if line.strip()]


def logged(panels: list[tuple[str, str]], runs: list[list[dict]]) -> list[tuple[str, str]]:
    """The panels at least one run logged: a run from before a monitor existed, or a recipe that
    does not log it, leaves its panel empty, and an empty panel says nothing."""
    return [(key, label) for key, label in panels if any(key in row for rows in runs for row in rows)]


def windows(rows: list[dict], size: int) -> list[dict]:
    """Means of the training metrics over consecutive `size`-step windows."""
    steps = [r for r in rows if "completion/length_mean" in r]
    out = []
    for start in range(0, len(steps), size):
        part = steps[start : start + size]
        # None where no step of the window logged the metric (runs from before the recipe logged it)
        out.append({"steps": f"{part[0]['step']}-{part[-1]['step']}",
                    **{key: statistics.mean(values) if (values := [r[key] for r in part if key in r]) else None
                       for key, _ in PANELS[1:]}})
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("runs", nargs="+", type=Path, help="run folders or their metrics.jsonl files")
    parser.add_argument("--out", type=Path, default=None, help="PNG to write (no plot without it)")
    parser.add_argument("--window", type=int, default=10)
    args = parser.parse_args()
    names = [(path.stem if path.is_file() else path.name).removesuffix(".metrics") for path in args.runs]
    if len(set(names)) < len(names):  # seed0.metrics.jsonl of two arms: name them by their folders too
        names = [f"{path.resolve().parent.name}/{name}" for path, name in zip(args.runs, names)]
    runs = {name: load(path) for name, path in zip(names, args.runs)}
    panels = logged(PANELS, list(runs.values()))
    for name, rows in runs.items():
        evals = ", ".join(f"{r['step']}: {r['eval/accuracy']:.3f}" for r in rows if "eval/accuracy" in r)
        print(f"\n{name}: greedy test accuracy by step: {evals}\n")
        print("| steps | " + " | ".join(label for key, label in panels if not key.startswith("eval/")) + " |")
        print("| --- |" + " --- |" * sum(not key.startswith("eval/") for key, _ in panels))
        for w in windows(rows, args.window):
            cells = [f"{w[key]:.1f}" if key == "completion/length_mean" else f"{w[key]:.3f}" if w[key] is not None else "-"
                     for key, _ in panels if not key.startswith("eval/")]
            print(f"| {w['steps']} | " + " | ".join(cells) + " |")
    if args.out is None:
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.4), squeeze=False)
    axes = axes[0]
    for axis, (key, label) in zip(axes, panels):
        for index, (name, rows) in enumerate(runs.items()):
            points = [(r["step"], r[key]) for r in rows if r.get(key) is not None]
            if points:  # one colour per run in every panel, also where an earlier run lacks the metric
                axis.plot(*zip(*points), marker="o" if key.startswith("eval/") else None, markersize=3, label=name,
                          color=f"C{index}")
        axis.set_title(label)
        axis.set_xlabel("step")
        axis.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    save(figure, args.out)


def save(figure, out: Path) -> None:
    """The study's plots all leave the same way: laid out, folders made, the path printed."""
    figure.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out, dpi=100)
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
