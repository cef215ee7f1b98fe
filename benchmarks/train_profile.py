"""Where the training phase of the small workload spends its time: one learner, no Ray, no
generation, the same batch shape as benchmarks/gpu_step.py (64 rows of 64 prompt + 256
completion tokens, 0.5B architecture).

Why: on an H200 the small workload's step is 1.62 s with fp32 master weights, 0.97 s of it in
training (docs/throughput.md), while 6 N FLOPs per token for its 20,480 tokens is ~80 ms at the
measured matmul rate. This separates GPU work from host time (wall against the GPU's busy time in
a profile) and lists the kernels and CPU operators that take the step, per setting:

    python benchmarks/train_profile.py --out $OUT/tp                                   # GPU
    python benchmarks/train_profile.py --out $OUT/tp --set model.gradient_checkpointing=false trainer.microbatch_size=64
    python benchmarks/train_profile.py --tiny --out /tmp/tp                            # CPU dry run
    python benchmarks/train_profile.py --out $OUT/tp --variant ours-fp32-master-mb64 --memory   # what makes the peak

Printed: median train_step wall seconds over --steps (after --warmup), the profiled step's GPU
busy time and its share of the wall, its top kernels by GPU time and top operators by CPU time.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.memory_peak import live_at_peak, table  # noqa: E402
from benchmarks.gpu_step import COMPLETION_TOKENS, GENERATIONS, OURS, PROMPT_TOKENS, PROMPTS_PER_STEP, build_workload  # noqa: E402


def synthetic_batch(vocab: int, rows: int, prompt: int, completion: int, seed: int = 0):
    """A rollout batch of the workload's shape: random tokens, every completion at full length,
    advantages of both signs (a group-normalised batch has mean 0)."""
    from grpo.batch import RolloutBatch

    generator = torch.Generator().manual_seed(seed)
    input_ids = torch.randint(10, vocab - 10, (rows, prompt + completion), generator=generator)
    advantages = torch.randn(rows, generator=generator)
    return RolloutBatch(
        input_ids=input_ids, attention_mask=torch.ones_like(input_ids),
        completion_mask=torch.ones(rows, completion), prompt_lengths=torch.full((rows,), prompt),
        completion_lengths=torch.full((rows,), completion), sampler_logprobs=torch.full((rows, completion), -11.0),
        truncated=torch.zeros(rows, dtype=torch.bool), advantages=(advantages - advantages.mean()) / advantages.std(),
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default="bench-train-profile")
    parser.add_argument("--tiny", action="store_true", help="small model on CPU: checks the script, measures little")
    parser.add_argument("--variant", default="ours-fp32-master", choices=sorted(OURS),
                        help="gpu_step.py's settings to start from")
    parser.add_argument("--set", nargs="*", default=[], help="recipe overrides on top of the variant's")
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--workdir", default="/tmp/grpo-bench")
    parser.add_argument("--memory", action="store_true",
                        help="GPU: record one more step's allocations and list what is alive at its peak")
    args = parser.parse_args()
    from grpo.config import load_recipe
    from grpo.learner import Learner

    directory, out = Path(args.workdir), Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    directory.mkdir(parents=True, exist_ok=True)
    if not (directory / "model" / "config.json").exists():
        build_workload(directory, args.tiny)
    cuda = torch.cuda.is_available() and not args.tiny
    overrides = [f"model.path={directory / 'model'}", f"model.tokenizer={directory / 'tokenizer'}",
                 f"data.train.path={directory / 'prompts.jsonl'}", f"output_dir={directory / 'runs'}",
                 "rollout.colocate=false", "algorithm.beta=0.0", "trainer.learning_rate=1e-6",
                 f"trainer.device={'cuda' if cuda else 'cpu'}", f"model.dtype={'bfloat16' if cuda else 'float32'}",
                 *OURS[args.variant], *args.set]
    recipe = load_recipe(ROOT / "benchmarks" / "gpu_step_recipe.yaml", overrides)
    learner = Learner(recipe)
    rows = PROMPTS_PER_STEP * GENERATIONS
    prompt, completion = (PROMPT_TOKENS, COMPLETION_TOKENS) if not args.tiny else (8, 8)
    batch = synthetic_batch(learner.model.config.vocab_size, rows, prompt, completion)

    peaks: list[float] = []

    def step(index: int) -> float:
        if cuda:
            torch.cuda.synchronize()
        started = time.perf_counter()
        # the learner reads and resets the peak counter at the end of every step, so the peak is its
        # metric, not max_memory_allocated() afterwards (that read 6.5 GiB at micro-batch 64 without
        # recomputation, where the step's own peak was ~34 GiB)
        peaks.append(learner.train_step(batch, index).get("memory/peak_gib", 0.0))
        if cuda:
            torch.cuda.synchronize()
        return time.perf_counter() - started

    for index in range(args.warmup):
        step(index)
    seconds = [step(args.warmup + index) for index in range(args.steps)]
    activities = [torch.profiler.ProfilerActivity.CPU] + ([torch.profiler.ProfilerActivity.CUDA] if cuda else [])
    with torch.profiler.profile(activities=activities) as profile:
        profiled_wall = step(args.warmup + args.steps)
    events = profile.key_averages()
    # kernels only (device-side events with no CPU child): their sum is the GPU's busy time
    kernels = sorted((e for e in events if cuda and e.device_type == torch.autograd.DeviceType.CUDA),
                     key=lambda e: e.self_device_time_total, reverse=True)
    gpu_busy = sum(e.self_device_time_total for e in kernels) / 1e6
    operators = sorted((e for e in events if e.device_type == torch.autograd.DeviceType.CPU),
                       key=lambda e: e.self_cpu_time_total, reverse=True)
    result = {
        "variant": args.variant, "overrides": args.set, "step_seconds": seconds,
        "median_step_s": statistics.median(seconds), "profiled_wall_s": profiled_wall, "gpu_busy_s": gpu_busy,
        "peak_gib": max(peaks),
        "kernels": [{"name": e.key[:120], "ms": e.self_device_time_total / 1e3, "count": e.count} for e in kernels[:25]],
        "cpu_operators": [{"name": e.key[:120], "ms": e.self_cpu_time_total / 1e3, "count": e.count} for e in operators[:25]],
    }
    if cuda and args.memory:
        result["memory_at_peak"] = memory_at_peak(lambda: step(args.warmup + args.steps + 1))
    tag = "-".join([args.variant, *(s.replace("=", "_").replace(".", "_") for s in args.set)])[:120]
    (out / f"{tag}.json").write_text(json.dumps(result, indent=2))
    print(f"{args.variant} {' '.join(args.set)}: train_step median {result['median_step_s']:.3f} s over {len(seconds)}; "
          f"profiled step {profiled_wall:.3f} s wall, GPU busy {gpu_busy:.3f} s ({gpu_busy / profiled_wall:.0%}), "
          f"peak {result['peak_gib']:.2f} GiB")
    print("| top kernels | GPU ms | count |\n| --- | --- | --- |")
    for k in result["kernels"][:12]:
        print(f"| {k['name'][:90]} | {k['ms']:.1f} | {k['count']} |")
    print("| top CPU operators (self) | CPU ms | count |\n| --- | --- | --- |")
    for k in result["cpu_operators"][:12]:
        print(f"| {k['name'][:90]} | {k['ms']:.1f} | {k['count']} |")
    if "memory_at_peak" in result:
        print(table(result["memory_at_peak"]["peak_bytes"], result["memory_at_peak"]["by_site"]))


def memory_at_peak(run_step) -> dict:
    """One step under the allocator's history recording: its peak and what is alive then, by site
    (blocks allocated before the recording count as one entry, and are taken to live throughout)."""
    torch.cuda.synchronize()
    before = torch.cuda.memory_allocated()
    torch.cuda.memory._record_memory_history(max_entries=2_000_000, stacks="python")
    run_step()
    snapshot = torch.cuda.memory._snapshot()
    torch.cuda.memory._record_memory_history(enabled=None)
    events = snapshot["device_traces"][torch.cuda.current_device()]
    peak, by_site = live_at_peak(events, start_bytes=before)
    return {"peak_bytes": peak, "by_site": by_site, "events": len(events)}


if __name__ == "__main__":
    main()
