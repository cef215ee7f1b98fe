"""Synchronous against asynchronous rollouts, judged by their learning curves: is an asynchronous
run's curve inside the run-to-run spread of the synchronous runs (issue 21's goal)?

One point per run is not enough to judge that, and single steps are noisy (16 prompts a step), so
each run's training reward is averaged over consecutive windows of steps; the held-out accuracy is
compared at each evaluation. A window of the asynchronous mode counts as inside when the mean of
its seeds lies within [min, max] of the synchronous seeds' values there. Writes a PNG (synchronous
seeds as a band, asynchronous seeds as lines) and a JSON/Markdown table.

The training reward a step logs is the reward of the weights that sampled its batch. In a
synchronous run those are the weights after step t-1; with max_staleness=1 they are one update
older (steps 1 and 2 both sample the initial weights). Compared by step, the asynchronous curve is
therefore shifted right by its staleness before any learning differs. The verdict on training
reward is taken by sampling version (updates the sampling weights had had: step - 1 - staleness),
which asks the question the goal is about: does learning from one-update-old samples make each
update worth less? The by-step table is written too. Held-out accuracy needs no shift: step t's
evaluation runs on the weights after update t in both modes.

    python benchmarks/async_overlay.py --sync runs/qs-sync-* --async runs/qs-async-* --out docs/async_overlay
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
from pathlib import Path
from typing import Callable

from grpo.logging import read_metrics


def series(rows: list[dict], key: str) -> dict[int, float]:
    """step -> value of `key`, for the steps that logged it."""
    return {int(r["step"]): float(r[key]) for r in rows if r.get(key) is not None}


def by_sampling_version(rows: list[dict], key: str) -> dict[int, float]:
    """version -> mean of `key` over the steps whose batch those weights sampled, where a step's
    version is step - 1 - rollout/staleness (0: the initial weights; no staleness logged: 0)."""
    batches: dict[int, list[float]] = {}
    for row in rows:
        if row.get(key) is None:
            continue
        version = int(row["step"]) - 1 - round(float(row.get("rollout/staleness") or 0.0))
        batches.setdefault(version, []).append(float(row[key]))
    return {version: statistics.fmean(values) for version, values in sorted(batches.items())}


START_KEYS = ("eval/accuracy", "eval/length_mean", "eval/num_prompts")


def mixed_starts(runs: dict[str, list[dict]]) -> str | None:
    """Runs whose step-0 evaluations differ did not start from the same model and held-out set
    (the demo's base is rebuilt on each bare GPU machine): their curves cannot share one spread.
    None when every run that evaluated at step 0 read the same; else the line that says which."""
    starts = {}
    for path, rows in runs.items():
        first = next((r for r in rows if int(r["step"]) == 0 and any(k in r for k in START_KEYS)), None)
        if first is not None:
            starts[path] = tuple(first.get(k) for k in START_KEYS)
    if len(set(starts.values())) <= 1:
        return None
    groups: dict[tuple, list[str]] = {}
    for path, start in starts.items():
        groups.setdefault(start, []).append(path)
    described = "; ".join(", ".join(paths) + ": " + ", ".join(f"{k.split('/')[1]} {v}" for k, v in zip(START_KEYS, start))
                          for start, paths in groups.items())
    return (f"the runs' step-0 evaluations differ, so they did not start from the same base and held-out set "
            f"({described}); rerun the odd ones from the same base, or compare each group on its own")


def running_means(points: dict[int, float], width: int) -> dict[int, float]:
    """Centred running mean over `width` neighbouring keys (fewer at the ends): for the plot only,
    where window means leave three points and single steps are mostly noise."""
    keys = sorted(points)
    half = width // 2
    return {k: statistics.fmean(points[j] for j in keys[max(0, i - half): i + half + 1]) for i, k in enumerate(keys)}


def window_means(points: dict[int, float], size: int, first: int = 1) -> dict[int, float]:
    """Mean over consecutive windows of `size` keys counted from `first`, keyed by the window's
    first key (steps 1-10 -> 1, 11-20 -> 11 for size 10; versions 0-9 -> 0 with first=0); a window
    counts only the keys it has."""
    windows: dict[int, list[float]] = {}
    for at, value in points.items():
        start = (at - first) // size * size + first
        windows.setdefault(start, []).append(value)
    return {start: statistics.fmean(values) for start, values in sorted(windows.items())}


def permutation_p(first: list[float], second: list[float]) -> float:
    """Two-sided exact permutation test of equal means: the share of all ways to split the pooled
    values into groups of the two sizes whose means differ at least as much as the real split's.

    "Inside the synchronous range" is a strict test at a few seeds (the range of 5 runs is narrow,
    and the mean of 5 others lands outside it by chance often enough); this says how often a gap
    this large appears with no difference between the modes at all. Exact, so no normality is
    assumed; C(10, 5) = 252 splits at 5 seeds each.
    """
    pooled = first + second
    observed = abs(statistics.fmean(first) - statistics.fmean(second))
    total = sum(pooled)
    count = hits = 0
    for chosen in itertools.combinations(range(len(pooled)), len(first)):
        part = sum(pooled[i] for i in chosen)
        gap = abs(part / len(first) - (total - part) / len(second))
        hits += gap >= observed - 1e-12
        count += 1
    return hits / count


def compare(sync: list[dict[int, float]], other: list[dict[int, float]]) -> list[dict]:
    """Per key (window or eval step) that every run has: the synchronous seeds' range and the
    other mode's seed mean, whether that mean is inside the range, and the permutation test's p
    that the two modes' seed means are the same (`permutation_p`)."""
    keys = sorted(set.intersection(*(set(s) for s in sync + other)))
    table = []
    for key in keys:
        low, high = min(s[key] for s in sync), max(s[key] for s in sync)
        mean = statistics.fmean(s[key] for s in other)
        table.append({"at": key, "sync_min": low, "sync_max": high, "sync_mean": statistics.fmean(s[key] for s in sync),
                      "other_mean": mean, "inside": low <= mean <= high,
                      "p_same_mean": permutation_p([s[key] for s in sync], [s[key] for s in other])})
    return table


def table(title: str, rows: list[dict], label: Callable[[int], str]) -> list[str]:
    """Markdown rows of a compare() result, each key written by `label`."""
    lines = [f"| {title} | sync min | sync max | sync mean | async mean | inside | p (same mean) |",
             "|---|---|---|---|---|---|---|"]
    return lines + [f"| {label(r['at'])} | {r['sync_min']:.3f} | {r['sync_max']:.3f} | {r['sync_mean']:.3f} | "
                    f"{r['other_mean']:.3f} | {'yes' if r['inside'] else 'no'} | {r['p_same_mean']:.2f} |" for r in rows]


def wall_seconds(rows: list[dict]) -> float:
    return sum(float(r.get("time/step", 0.0)) for r in rows if "reward/mean" in r)


def plot(path: Path, curves: dict[str, tuple[list[dict[int, float]], list[dict[int, float]]]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, len(curves), figsize=(5.5 * len(curves), 3.6))
    for axis, (label, (sync, other)) in zip(axes, curves.items()):
        steps = sorted(set.intersection(*(set(s) for s in sync)))
        axis.fill_between(steps, [min(s[t] for s in sync) for t in steps], [max(s[t] for s in sync) for t in steps],
                          color="tab:blue", alpha=0.2, label="synchronous, seed range")
        for i, run in enumerate(sync):
            axis.plot(sorted(run), [run[t] for t in sorted(run)], color="tab:blue", lw=0.8,
                      label="synchronous seeds" if i == 0 else None)
        for i, run in enumerate(other):
            axis.plot(sorted(run), [run[t] for t in sorted(run)], color="tab:red", lw=1.2, ls="--",
                      label="max_staleness=1 seeds" if i == 0 else None)
        axis.set_xlabel("sampling version" if "version" in label else "step")
        axis.set_title(label)
        axis.grid(alpha=0.3)
        axis.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sync", nargs="+", required=True, help="run folders of the synchronous seeds")
    parser.add_argument("--async", dest="other", nargs="+", required=True, help="run folders of the asynchronous seeds")
    parser.add_argument("--window", type=int, default=10, help="steps per training-reward window")
    parser.add_argument("--out", required=True, help="folder for overlay.png, overlay.json and overlay.md")
    args = parser.parse_args()
    runs = {mode: [read_metrics(Path(p)) for p in paths] for mode, paths in (("sync", args.sync), ("async", args.other))}
    for mode, paths in (("sync", args.sync), ("async", args.other)):
        empty = [p for p, rows in zip(paths, runs[mode]) if not rows]
        if empty:
            raise SystemExit(f"--{mode}: no metrics.jsonl in {', '.join(empty)}; pass run folders (runs/<name>)")
    problem = mixed_starts({p: rows for mode, paths in (("sync", args.sync), ("async", args.other))
                            for p, rows in zip(paths, runs[mode])})
    if problem:
        raise SystemExit(problem)
    reward = {m: [window_means(series(rows, "reward/mean"), args.window) for rows in runs[m]] for m in runs}
    # Versions every run sampled from: the asynchronous runs' last batch is one version short, and
    # a window must average the same versions in both modes.
    versions = {m: [by_sampling_version(rows, "reward/mean") for rows in runs[m]] for m in runs}
    shared = set.intersection(*(set(v) for m in versions for v in versions[m]))
    versions = {m: [{k: v[k] for k in shared} for v in versions[m]] for m in versions}
    by_version = {m: [window_means(v, args.window, first=0) for v in versions[m]] for m in versions}
    accuracy = {m: [series(rows, "eval/accuracy") for rows in runs[m]] for m in runs}
    result = {
        "window": args.window, "sync_runs": args.sync, "async_runs": args.other,
        "reward_windows_by_version": compare(by_version["sync"], by_version["async"]),
        "reward_windows_by_step": compare(reward["sync"], reward["async"]),
        "eval_accuracy": compare(accuracy["sync"], accuracy["async"]),
        "wall_seconds": {m: [wall_seconds(rows) for rows in runs[m]] for m in runs},
        "staleness": [statistics.fmean(series(rows, "rollout/staleness").values() or [0.0]) for rows in runs["async"]],
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "overlay.json").write_text(json.dumps(result, indent=1) + "\n")
    last = max(shared)
    lines = table("training reward, sampling versions", result["reward_windows_by_version"],
                  lambda at: f"{at}-{min(at + args.window - 1, last)}")
    lines += ["", *table("training reward, steps as logged", result["reward_windows_by_step"],
                         lambda at: f"{at}-{at + args.window - 1}")]
    lines += ["", *table("test accuracy, step", result["eval_accuracy"], str)]
    (out / "overlay.md").write_text("\n".join(lines) + "\n")
    smooth = {m: [running_means(v, 5) for v in versions[m]] for m in versions}
    logged = {m: [running_means(series(rows, "reward/mean"), 5) for rows in runs[m]] for m in runs}
    plot(out / "overlay.png", {
        "training reward by sampling version (5-version running mean)": (smooth["sync"], smooth["async"]),
        "training reward by step as logged (5-step running mean)": (logged["sync"], logged["async"]),
        "greedy test accuracy": (accuracy["sync"], accuracy["async"])})
    print("\n".join(lines))


if __name__ == "__main__":
    main()
