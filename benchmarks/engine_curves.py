"""The same GRPO run with both rollout engines: do the reward curves agree? (issue "vLLM rollout engine")

    python benchmarks/engine_curves.py --base runs/r1-zero-demo-base --steps 30 --out results/

Runs recipes/r1-zero-demo.yaml (same seed, same data, same hyper-parameters) once with
rollout.engine=transformers and once with rollout.engine=vllm (colocated, sleeping while the
trainer steps), each in its own process, then prints the training accuracy per window of steps,
the held-out accuracy at each evaluation, and the seconds per phase. Samples differ between
engines (different random streams and kernels), so "agree" means within the step-to-step noise:
the table gives that noise (std of one engine's accuracy over a window) beside the difference.
Writes engine_curves.json and each run's metrics.jsonl under --out.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run(engine: str, base: str, steps: int, out: Path, extra: list[str]) -> list[dict]:
    name = f"curves-{engine}"
    run_dir = ROOT / "runs" / name
    shutil.rmtree(run_dir, ignore_errors=True)
    command = [sys.executable, "-m", "grpo.cli", "train", "recipes/r1-zero-demo.yaml", f"model.path={base}",
               f"rollout.engine={engine}", f"trainer.steps={steps}", f"name={name}", "eval.every_steps=10",
               "logging.progress=false", *extra]
    with open(out / f"{name}.log", "w") as log:
        code = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT).returncode
    if code:
        raise SystemExit(f"{engine} run failed (exit {code}); see {out / f'{name}.log'}")
    shutil.copy(run_dir / "metrics.jsonl", out / f"{name}.metrics.jsonl")
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", help="the demo base (examples/r1_zero_demo/run.sh builds it)")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--window", type=int, default=5)
    parser.add_argument("--out", default="curves-out")
    parser.add_argument("--engines", default="transformers,vllm")
    parser.add_argument("--metrics-from", help="skip the runs: read curves-<engine>.metrics.jsonl from this folder")
    parser.add_argument("overrides", nargs="*", help="extra recipe overrides for both runs")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    engines = args.engines.split(",")
    if args.metrics_from:
        metrics = {e: [json.loads(line) for line in (Path(args.metrics_from) / f"curves-{e}.metrics.jsonl").read_text().splitlines()]
                   for e in engines}
    else:
        metrics = {engine: run(engine, args.base, args.steps, out, args.overrides) for engine in engines}

    train = {e: [m for m in ms if "accuracy" in m and "time/step" in m] for e, ms in metrics.items()}
    evals = {e: {m["step"]: m["eval/accuracy"] for m in ms if "eval/accuracy" in m} for e, ms in metrics.items()}
    lines = ["| steps | " + " | ".join(f"{e} train acc (std)" for e in engines) + " | difference |",
             "| --- | " + " | ".join("---" for _ in engines) + " | --- |"]
    windows = []
    for start in range(0, args.steps, args.window):
        cells, means = [], []
        for e in engines:
            values = [m["accuracy"] for m in train[e][start : start + args.window]]
            mean, std = statistics.fmean(values), statistics.pstdev(values)
            cells.append(f"{mean:.3f} ({std:.3f})")
            means.append(mean)
        diff = means[-1] - means[0]
        windows.append({"steps": [start + 1, start + args.window], "means": dict(zip(engines, means)), "difference": diff})
        lines.append(f"| {start + 1}-{start + args.window} | " + " | ".join(cells) + f" | {diff:+.3f} |")
    lines += ["", "| eval step | " + " | ".join(f"{e} test acc" for e in engines) + " |",
              "| --- | " + " | ".join("---" for _ in engines) + " |"]
    for step in sorted(evals[engines[0]]):
        lines.append(f"| {step} | " + " | ".join(f"{evals[e].get(step, float('nan')):.3f}" for e in engines) + " |")
    lines += ["", "| engine | median s/step | generate | train | engine sync | gap mean abs |", "| --- | --- | --- | --- | --- | --- |"]
    timing = {}
    for e in engines:
        rows = train[e][2:]
        med = {k: statistics.median(m.get(k, 0.0) for m in rows) for k in ("time/step", "time/generate", "time/train", "time/engine_sync")}
        gap = statistics.fmean(m.get("train/sampler_logprob_gap", float("nan")) for m in rows)
        timing[e] = {**med, "sampler_logprob_gap": gap}
        lines.append(f"| {e} | {med['time/step']:.2f} | {med['time/generate']:.2f} | {med['time/train']:.2f} | "
                     f"{med['time/engine_sync']:.3f} | {gap:.2e} |")
    table = "\n".join(lines)
    print(table)
    (out / "engine_curves.md").write_text(table + "\n")
    (out / "engine_curves.json").write_text(json.dumps({"windows": windows, "evals": evals, "timing": timing}, indent=2))


if __name__ == "__main__":
    main()
