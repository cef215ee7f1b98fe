"""Part 1's table from the runs' metrics: accuracy, length and self-check share, early vs late.

    python examples/r1_study/summarize.py runs/r1-study-zero-0 runs/r1-study-zero-1

Targets (issue "Reproduce R1's findings"): held-out accuracy +25 points or more; mean response
length x1.5 or more; self-check share x3 or more. "Early" and "late" are the means of the first
and last `--window` training steps (one step's 512 samples are noisy); accuracy is the greedy
held-out evaluation at the first and last eval.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from grpo.logging import read_metrics  # noqa: E402


def summarize(run: Path, window: int) -> dict[str, float]:
    rows = read_metrics(run)
    steps = [r for r in rows if "completion/length_mean" in r]
    evals = [r for r in rows if "eval/accuracy" in r]
    if len(steps) < 2 * window or len(evals) < 2:
        raise SystemExit(f"{run}: {len(steps)} training steps and {len(evals)} evals; need {2 * window} and 2")

    def mean(key: str, part: list[dict]) -> float:
        return statistics.mean(r.get(key, 0.0) for r in part)

    early, late = steps[:window], steps[-window:]
    return {
        "acc0": evals[0]["eval/accuracy"], "acc1": evals[-1]["eval/accuracy"],
        "len0": mean("completion/length_mean", early), "len1": mean("completion/length_mean", late),
        "check0": mean("reward/self_check", early), "check1": mean("reward/self_check", late),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--window", type=int, default=5)
    args = parser.parse_args()
    print("| run | test accuracy first -> last eval | mean length early -> late (x) | self-check share early -> late (x) |")
    print("| --- | --- | --- | --- |")
    for run in args.runs:
        s = summarize(run, args.window)
        length_x = s["len1"] / s["len0"] if s["len0"] else float("nan")
        check_x = s["check1"] / s["check0"] if s["check0"] else float("inf")
        print(f"| {run.name} | {s['acc0']:.3f} -> {s['acc1']:.3f} ({100 * (s['acc1'] - s['acc0']):+.1f} pts) | "
              f"{s['len0']:.0f} -> {s['len1']:.0f} ({length_x:.2f}x) | {s['check0']:.3f} -> {s['check1']:.3f} ({check_x:.1f}x) |")


if __name__ == "__main__":
    main()
