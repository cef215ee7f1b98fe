"""Part 4's table: length of incorrect and correct completions over training, per arm, across seeds.

    python examples/r1_study/lengths.py runs/abl/runs/ablation-grpo-0 runs/abl/runs/ablation-grpo-1 \
        runs/abl/runs/ablation-dr_grpo-0 runs/abl/runs/ablation-dr_grpo-1 --out lengths.png

Dr. GRPO (Liu et al. 2025) argues that dividing each sequence's loss by its own length lets a
wrong answer's penalty shrink as it grows, so incorrect completions lengthen under GRPO and not
under Dr. GRPO. Runs are grouped into arms by their name without the trailing seed
(`ablation-grpo-0` -> `ablation-grpo`). Each cell is the arm's mean over seeds of the window's
mean (steps whose samples had no incorrect, or no correct, completion are skipped), +- the spread
(half the range over seeds); the last rows are the greedy test accuracy at the first and last eval.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from grpo.logging import read_metrics  # noqa: E402

KEYS = {"incorrect": "completion/length_incorrect_mean", "correct": "completion/length_correct_mean",
        "all": "completion/length_mean", "accuracy": "accuracy"}


def windows(run: Path, size: int) -> tuple[list[dict[str, float]], tuple[float, float]]:
    """Per window of `size` training steps: the mean of each key over the steps that have it."""
    rows = read_metrics(run)
    steps = [r for r in rows if "completion/length_mean" in r]
    evals = [r["eval/accuracy"] for r in rows if "eval/accuracy" in r]
    if not steps:
        raise SystemExit(f"{run}: no training steps in its metrics")
    out = []
    for start in range(0, len(steps), size):
        part = steps[start : start + size]
        cell = {}
        for label, key in KEYS.items():
            values = [r[key] for r in part if key in r and (label == "all" or label == "accuracy" or r[key] > 0)]
            cell[label] = statistics.mean(values) if values else float("nan")
        out.append(cell)
    return out, (evals[0], evals[-1]) if evals else (float("nan"), float("nan"))


def arm_of(run: Path) -> str:
    head, _, tail = run.name.rpartition("-")
    return head if tail.isdigit() else run.name


def cell(values: list[float], digits: int = 1) -> str:
    """Mean over seeds ± half their range (the study's spread), or the one value."""
    values = [v for v in values if v == v]  # drop NaN
    if not values:
        return "-"
    spread = (max(values) - min(values)) / 2
    return f"{statistics.mean(values):.{digits}f} ± {spread:.{digits}f}" if len(values) > 1 else f"{values[0]:.{digits}f}"


def by_arm(runs: list[Path], size: int) -> dict[str, list]:
    """Each arm's seeds: per run, its windows and its (first, last) greedy test accuracy."""
    arms: dict[str, list] = defaultdict(list)
    for run in runs:
        arms[arm_of(run)].append(windows(run, size))
    return dict(arms)


def curve(results: list, label: str) -> list[float]:
    """One arm's mean over seeds of `label`, window by window (as far as every seed reaches)."""
    count = min(len(w) for w, _ in results)
    out = []
    for index in range(count):
        values = [w[index][label] for w, _ in results if w[index][label] == w[index][label]]
        out.append(statistics.mean(values) if values else float("nan"))
    return out


def plot(runs: list[Path], size: int, out: Path) -> None:
    """Incorrect and correct completions' length per arm over training (mean over seeds), beside
    sampled accuracy: the two curves Dr. GRPO's claim is about, and what each arm bought with them."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from examples.r1_study.curves import save

    arms = by_arm(runs, size)
    figure, (lengths, accuracy) = plt.subplots(1, 2, figsize=(11, 4))
    for (name, results), colour in zip(arms.items(), ("tab:blue", "tab:orange", "tab:green", "tab:red")):
        incorrect = curve(results, "incorrect")
        steps = [(index + 0.5) * size for index in range(len(incorrect))]
        lengths.plot(steps, incorrect, color=colour, label=f"{name}: incorrect ({len(results)} seeds)")
        lengths.plot(steps, curve(results, "correct"), color=colour, linestyle="--", label=f"{name}: correct")
        accuracy.plot(steps, curve(results, "accuracy"), color=colour, label=name)
    lengths.set(xlabel="step", ylabel="mean completion tokens", title="length of incorrect / correct completions")
    accuracy.set(xlabel="step", ylabel="share correct (T = 1)", title="sampled accuracy (train)")
    lengths.legend(fontsize=8)
    accuracy.legend(fontsize=8)
    save(figure, out)


def table(runs: list[Path], size: int) -> str:
    arms = by_arm(runs, size)
    names = list(arms)
    count = min(len(w) for results in arms.values() for w, _ in results)
    lines = ["| steps | " + " | ".join(f"{n}: incorrect / correct length, accuracy" for n in names) + " |",
             "| --- |" + " --- |" * len(names)]
    for index in range(count):
        row = [f"{index * size + 1}-{(index + 1) * size}"]
        for name in names:
            ws = [w[index] for w, _ in arms[name]]
            row.append(f"{cell([w['incorrect'] for w in ws])} / {cell([w['correct'] for w in ws])}, "
                       f"{cell([100 * w['accuracy'] for w in ws])}%")
        lines.append("| " + " | ".join(row) + " |")
    for position, label in ((0, "test accuracy, first eval"), (1, "test accuracy, last eval")):
        lines.append(f"| {label} | " + " | ".join(cell([100 * e[position] for _, e in arms[n]]) + "%" for n in names) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--window", type=int, default=5)
    parser.add_argument("--out", type=Path, help="also plot the lengths over training into this PNG")
    args = parser.parse_args()
    print(table(args.runs, args.window))
    if args.out:
        plot(args.runs, args.window, args.out)


if __name__ == "__main__":
    main()
