"""Part 3's table and plot: the distilled student (a) against GRPO from the student's base (b), per
seed, with each arm's GPU seconds beside its held-out numbers.

Why seconds on the x axis and not steps: the claim under test is "distillation beats RL at equal or
less compute", and an SFT step and a GRPO step cost very different amounts. (a)'s seconds are the
teacher's trace generation plus the student's SFT (the teacher itself is given, as in R1's
distillation table); (b)'s are the sum of its logged step times, evaluations left out.

    python examples/r1_study/distill_table.py docs/r1_study/distill_h200/seed0 docs/r1_study/distill_h200/seed1 \
        --out docs/r1_study/distill_h200/distill.png

Each folder holds distill_summary.json ((a)'s pipeline summary) and student_rl.metrics.jsonl ((b)).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from examples.r1_study.curves import save  # noqa: E402
from examples.r1_study.lengths import cell  # noqa: E402

COLUMNS = [("eval/accuracy", "greedy acc"), ("eval/mean@k", "sampled acc (T=1, 4 a prompt)"),
           ("eval/pass@4", "pass@4"), ("eval/sampled/reward/language", "sampled English share")]


def distilled(folder: Path) -> dict:
    """(a): the student stage's final evaluation and the seconds of both stages."""
    stages = json.loads((folder / "distill_summary.json").read_text())["stages"]
    student = next(s for s in stages if s["kind"] == "distill")
    return {"seconds": sum(s["seconds"] for s in stages), "eval": student["eval"], "first": student["first_eval"]}


def rl_curve(folder: Path) -> tuple[list[tuple[float, dict]], float]:
    """(b): (GPU seconds so far, evaluation) at every evaluation, and the run's total seconds."""
    rows = [json.loads(line) for line in (folder / "student_rl.metrics.jsonl").read_text().splitlines() if line]
    elapsed, curve = {}, []
    total = 0.0
    for row in rows:
        total += row.get("time/step", 0.0)
        elapsed[row["step"]] = total
    for row in rows:
        if "eval/accuracy" in row:
            curve.append((elapsed.get(row["step"], 0.0), row))
    return curve, total


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("seeds", nargs="+", type=Path, help="one folder per seed")
    parser.add_argument("--out", type=Path, default=None, help="PNG to write")
    args = parser.parse_args()
    print("| arm | seed | GPU s | " + " | ".join(label for _, label in COLUMNS) + " |")
    print("| --- | --- | --- |" + " --- |" * len(COLUMNS))
    finals: dict[str, list[dict]] = {}
    curves = []
    for folder in args.seeds:
        seed = folder.name
        a = distilled(folder)
        curve, total = rl_curve(folder)
        curves.append((seed, a, curve))
        # (b) given no more seconds than (a) took: its last evaluation before that point
        matched = [(s, r) for s, r in curve if s <= a["seconds"]][-1]
        for arm, seconds, ev in (("student base", 0.0, a["first"]), ("(a) distilled", a["seconds"], a["eval"]),
                                 ("(b) GRPO at (a)'s seconds", matched[0], matched[1]),
                                 ("(b) GRPO", total, curve[-1][1])):
            finals.setdefault(arm, []).append({**ev, "seconds": seconds})
            cells = " | ".join(f"{ev[key]:.3f}" for key, _ in COLUMNS)
            print(f"| {arm} | {seed} | {seconds:.0f} | {cells} |")
    print("\n| arm | GPU s (mean) | " + " | ".join(f"{label} mean ± spread" for _, label in COLUMNS) + " |")
    print("| --- | --- |" + " --- |" * len(COLUMNS))
    for arm, rows in finals.items():
        seconds = statistics.mean(r["seconds"] for r in rows)
        cells = [cell([r[key] for r in rows], digits=3) for key, _ in COLUMNS]
        print(f"| {arm} | {seconds:.0f} | " + " | ".join(cells) + " |")
    if args.out is None:
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 2, figsize=(9, 3.4))
    for index, (seed, a, curve) in enumerate(curves):
        for axis, key in zip(axes, ("eval/accuracy", "eval/sampled/reward/language")):
            axis.plot([s for s, _ in curve], [r[key] for _, r in curve], marker="o", markersize=3,
                      color=f"C{index}", label=f"(b) GRPO, {seed}")
            axis.plot([a["seconds"]], [a["eval"][key]], marker="*", markersize=12, linestyle="none",
                      color=f"C{index}", label=f"(a) distilled, {seed}")
    for axis, title in zip(axes, ("greedy test accuracy", "sampled test English share")):
        axis.set(title=title, xlabel="GPU seconds")
        axis.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    save(figure, args.out)


if __name__ == "__main__":
    main()
