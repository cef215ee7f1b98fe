"""One GRPO step on one GPU: this project's trainer (Ray actors, the real default path) against TRL's
GRPOTrainer in four settings (with vLLM colocated, as TRL's users run it on one GPU, and three
without), on the same workload, in one call.

Workload (issue "Fast on one GPU"): Qwen2.5-0.5B architecture, random init; 4 prompts x 16
generations per step; 64-token prompts; exactly 256 completion tokens; beta = 0, mu = 1.

    python benchmarks/gpu_step.py --out results/          # on the GPU machine
    python benchmarks/gpu_step.py --tiny --out /tmp/bench  # a CPU dry run of the whole script

Each configuration runs in its own process (clean peak-memory counters). Printed: median step
seconds over the measured steps (after warm-up), completions/s, peak GPU memory, the time split,
the ratio to each TRL setting, and the physical floor from ceilings measured here.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# vLLM picks FlashInfer's sampler when it thinks it can; the device image has no flashinfer package
os.environ.setdefault("VLLM_USE_FLASHINFER_SAMPLER", "0")
sys.path.insert(0, str(ROOT))
from benchmarks.bench_memory import (  # noqa: E402
    DEVICE_HEADER, HEADER, device_phase_peaks, device_text, peak_text, phase_peaks, process_text,
)
from benchmarks.device_memory import DevicePeak  # noqa: E402
from benchmarks.gpu_idle import release_driver_gpu, wait_for_idle_gpu  # noqa: E402
from benchmarks.row_process import run_isolated  # noqa: E402
from benchmarks.step_clock import StepClock, phase_windows  # noqa: E402

PROMPTS_PER_STEP, GENERATIONS, PROMPT_TOKENS, COMPLETION_TOKENS = 4, 16, 64, 256
QWEN_05B = dict(hidden_size=896, num_hidden_layers=24, num_attention_heads=14, num_key_value_heads=2,
                intermediate_size=4864, vocab_size=151936, tie_word_embeddings=True, max_position_embeddings=32768,
                rope_theta=1000000.0, rms_norm_eps=1e-6)
TINY = dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, intermediate_size=128,
            vocab_size=1000, tie_word_embeddings=True, max_position_embeddings=512)


def build_workload(directory: Path, tiny: bool) -> dict:
    """A random-init model saved in float32 (TRL's default loads it as is), a word-level tokenizer
    over the whole vocabulary (token i is the word 't<i>'), and 64-token prompts."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

    shape = TINY if tiny else QWEN_05B
    vocab = shape["vocab_size"]
    torch.manual_seed(0)
    model = Qwen2ForCausalLM(Qwen2Config(**shape, bos_token_id=vocab - 1, eos_token_id=vocab - 1, pad_token_id=vocab - 2))
    model.save_pretrained(directory / "model")
    words = {f"t{i}": i for i in range(vocab - 2)} | {"<pad>": vocab - 2, "<eos>": vocab - 1}
    backend = Tokenizer(models.WordLevel(words, unk_token="t0"))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    backend.decoder = decoders.WordPiece(prefix="##", cleanup=False)  # joins words with spaces
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, eos_token="<eos>", pad_token="<pad>")
    # its own folder: beside the model's config.json, AutoTokenizer would pick Qwen2's tokenizer class
    tokenizer.save_pretrained(directory / "tokenizer")
    rng = random.Random(0)
    with open(directory / "prompts.jsonl", "w") as handle:
        for _ in range(256):
            handle.write(json.dumps({"prompt": " ".join(f"t{rng.randrange(10, vocab - 10)}" for _ in range(PROMPT_TOKENS))}) + "\n")
    return {"params": sum(p.numel() for p in model.parameters())}


# --------------------------------------------------------------------------- the runs


# this project's settings under test; "ours" is what the README's table reports. They train pure
# bf16 (master_weights=none), like TRL's "model in bf16" rows, so the comparison is like for like;
# the project's default keeps fp32 master weights (+8 bytes per parameter), see grpo/optim.py.
PURE_BF16 = "trainer.master_weights=none"
OURS = {
    "ours": ["model.gradient_checkpointing=true", "trainer.microbatch_size=16", "trainer.logprob_chunk_tokens=128", PURE_BF16],
    "ours-mb8": ["model.gradient_checkpointing=true", "trainer.microbatch_size=8", "trainer.logprob_chunk_tokens=128", PURE_BF16],
    "ours-nockpt": ["trainer.microbatch_size=16", PURE_BF16],
    "ours-nockpt-mb4": ["trainer.microbatch_size=4", "trainer.logprob_chunk_tokens=256", PURE_BF16],
    "ours-fp32-master": ["model.gradient_checkpointing=true", "trainer.microbatch_size=16", "trainer.logprob_chunk_tokens=128"],
    # without recomputation: 0.42 s of training instead of ~1.0, but 34 GiB at the peak (H200)
    "ours-fp32-master-nockpt": ["trainer.microbatch_size=64", "trainer.logprob_chunk_tokens=128"],
    # recomputation on whole-batch micro-batches: the step is launch-bound (GPU busy 26% of the
    # training phase at micro-batch 16), and recomputed layers hold one layer's activations at a time
    "ours-fp32-master-mb64": ["model.gradient_checkpointing=true", "trainer.microbatch_size=64",
                              "trainer.logprob_chunk_tokens=128"],
    # the same with 4x longer log-prob chunks of the 151,936-word head: 32 chunks a micro-batch of 64 x 256 tokens, not 128
    "ours-fp32-master-mb64-chunk512": ["model.gradient_checkpointing=true", "trainer.microbatch_size=64",
                                       "trainer.logprob_chunk_tokens=512"],
    "ours-fp32-master-nockpt-liger": ["trainer.microbatch_size=64", "trainer.logprob_chunk_tokens=128",
                                      "model.liger_kernel=true"],
    # the memory goal's candidate (2026-12-05): at mb64's update peak, eager RMSNorm's fp32 copies
    # (0.27 GiB) and SwiGLU's activation (0.19 GiB) are alive for the layer being recomputed; Liger's
    # kernels do not keep them. Its compiled decode step now runs the eager originals (grpo/liger.py)
    "ours-fp32-master-mb64-liger": ["model.gradient_checkpointing=true", "trainer.microbatch_size=64",
                                    "trainer.logprob_chunk_tokens=128", "model.liger_kernel=true"],
    # decode steps captured as CUDA graphs directly instead of through torch.compile
    "ours-graph": ["rollout.capture=cuda_graph", "model.gradient_checkpointing=true", "trainer.microbatch_size=16",
                   "trainer.logprob_chunk_tokens=128", PURE_BF16],
    "ours-fp32-master-graph": ["rollout.capture=cuda_graph", "model.gradient_checkpointing=true",
                               "trainer.microbatch_size=16", "trainer.logprob_chunk_tokens=128"],
    # the memory goal's candidate: ours-fp32-master-mb64 generating from captured graphs whose KV
    # cache (~0.23 GiB: 64 rows x 320 tokens x 12 KiB) and graphs are freed before the update
    "ours-fp32-master-mb64-release": ["rollout.capture=cuda_graph", "rollout.release_cache=true",
                                      "model.gradient_checkpointing=true", "trainer.microbatch_size=64",
                                      "trainer.logprob_chunk_tokens=128"],
    # the same trainer settings as "ours", generating with vLLM colocated (it sleeps while training)
    "ours-vllm": ["rollout.engine=vllm", "model.gradient_checkpointing=true", "trainer.microbatch_size=16",
                  "trainer.logprob_chunk_tokens=128", PURE_BF16],
    # vLLM kept awake between generations: no sleep/wake cost, but its memory stays held while training
    "ours-vllm-awake": ["rollout.engine=vllm", "rollout.vllm.sleep=false", "model.gradient_checkpointing=true",
                        "trainer.microbatch_size=16", "trainer.logprob_chunk_tokens=128", PURE_BF16],
}


def run_ours(directory: Path, steps: int, warmup: int, tiny: bool, variant: str = "ours") -> dict:
    from grpo.config import load_recipe
    from grpo.logging import read_metrics
    from grpo.trainer import train

    overrides = [
        f"model.path={directory / 'model'}", f"model.tokenizer={directory / 'tokenizer'}", f"data.train.path={directory / 'prompts.jsonl'}",
        f"output_dir={directory / 'runs'}", "data.template=plain",
        f"rollout.group_size={GENERATIONS}", f"rollout.prompts_per_step={PROMPTS_PER_STEP}",
        f"rollout.max_prompt_tokens={PROMPT_TOKENS}", f"rollout.max_completion_tokens={COMPLETION_TOKENS if not tiny else 8}",
        "rollout.ignore_eos=true", "rollout.temperature=1.0", f"trainer.steps={steps}", "trainer.learning_rate=1e-6",
        f"trainer.device={'cpu' if tiny else 'cuda'}",
        f"model.dtype={'float32' if tiny else 'bfloat16'}", "logging.progress=false", "logging.samples_per_step=0",
        "algorithm.beta=0.0", "rewards.verifiers=[{name: 'benchmarks/bench_rewards.py:token_reward'}]",
        f"name={variant}", *OURS[variant],
    ]
    if not any(o.startswith("rollout.engine=") for o in OURS[variant]):
        # rollout.engine defaults to auto, which takes vLLM wherever it is installed: these rows
        # measure the transformers engine
        overrides.append("rollout.engine=transformers")
    recipe = load_recipe(ROOT / "benchmarks" / "gpu_step_recipe.yaml", overrides)
    shutil.rmtree(recipe.run_dir, ignore_errors=True)  # a warm machine keeps the last call's run
    with StepClock(recipe.run_dir / "metrics.jsonl") as clock:
        train(recipe)
    rows = [m for m in read_metrics(directory / "runs" / variant) if "time/step" in m][warmup:]
    # the final checkpoint (1.5B with fp32 Adam state: ~18 GB) is not what a row measures, and
    # several rows' checkpoints filled the device's disk before a 7B row could save
    shutil.rmtree(recipe.run_dir, ignore_errors=True)
    split = {k: statistics.median(m[k] for m in rows) for k in ("time/generate", "time/rewards", "time/train", "time/sync")}
    # a colocated vLLM engine takes the new weights inside the train call: report it as sync
    engine_sync = statistics.median(m.get("time/engine_sync", 0.0) for m in rows)
    split["time/train"] -= engine_sync
    split["time/sync"] += engine_sync
    return {"step_seconds": [m["time/step"] for m in rows], "peak_gib": max(m.get("memory/peak_gib", 0.0) for m in rows),
            "peak_split": phase_peaks(rows), "split": split, "phase_windows": phase_windows(rows, clock.seen)}


def run_trl(directory: Path, steps: int, warmup: int, tiny: bool, setting: str) -> dict:
    from trl import GRPOConfig

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from bench_rewards import token_reward
    from bench_trl import time_trl_steps

    prompts = [json.loads(line)["prompt"] for line in (directory / "prompts.jsonl").read_text().splitlines()]
    kwargs = {"generation_kwargs": {"min_new_tokens": COMPLETION_TOKENS if not tiny else 8}}
    if setting in ("bf16", "bf16-static", "vllm"):
        kwargs["model_init_kwargs"] = {"dtype": "bfloat16"}
    if setting == "bf16-static":
        kwargs["cache_implementation"] = "static"
    if setting == "vllm" and not tiny:
        # what a TRL user runs on one GPU: vLLM in the trainer's process, 0.35 of the GPU (as in
        # realistic_step.py); vLLM's own name for the minimum is min_tokens
        kwargs.update(use_vllm=True, vllm_mode="colocate", vllm_gpu_memory_utilization=0.35, bf16=True,
                      generation_kwargs={"min_tokens": COMPLETION_TOKENS})
    config = GRPOConfig(
        output_dir=str(directory / f"trl-{setting}"), report_to="none", save_strategy="no", logging_steps=1,
        per_device_train_batch_size=GENERATIONS, gradient_accumulation_steps=PROMPTS_PER_STEP,
        num_generations=GENERATIONS, max_completion_length=COMPLETION_TOKENS if not tiny else 8,
        temperature=1.0,
        beta=0.0, num_iterations=1, learning_rate=1e-6, max_steps=steps, use_cpu=tiny, seed=0, **kwargs,
    )
    return time_trl_steps(config, directory, token_reward, prompts, warmup)


# --------------------------------------------------------------------------- ceilings and table


def measure_ceilings() -> dict:
    """Copy bandwidth (bytes read + written) and bf16 matmul rate, measured here with events."""
    import torch

    if not torch.cuda.is_available():
        return {}
    source = torch.randn(1 << 28, device="cuda")  # 1 GiB
    target = torch.empty_like(source)
    a = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16)
    b = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16)

    def timed(fn, repeats=10):
        fn()
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        samples = []
        for _ in range(repeats):
            start.record()
            fn()
            end.record()
            torch.cuda.synchronize()
            samples.append(start.elapsed_time(end) / 1000)
        return statistics.median(samples)

    bandwidth = 2 * source.numel() * 4 / timed(lambda: target.copy_(source))
    flops = 2 * 8192**3 / timed(lambda: a @ b)
    return {"bandwidth_bytes_s": bandwidth, "bf16_flops": flops}


def physical_floor(params: int, ceilings: dict) -> float | None:
    """Decode reads every weight once per token step; training does 6 N FLOPs per token."""
    if not ceilings:
        return None
    decode = COMPLETION_TOKENS * params * 2 / ceilings["bandwidth_bytes_s"]
    tokens = PROMPTS_PER_STEP * GENERATIONS * (PROMPT_TOKENS + COMPLETION_TOKENS)
    return decode + 6 * params * tokens / ceilings["bf16_flops"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default="bench-out")
    parser.add_argument("--tiny", action="store_true", help="small model on CPU: checks the script, measures nothing")
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--only", default="ours,trl-vllm,trl-default,trl-bf16,trl-bf16-static")
    parser.add_argument("--run", help=argparse.SUPPRESS)
    parser.add_argument("--workdir", default="/tmp/grpo-bench")
    args = parser.parse_args()
    if args.steps <= args.warmup:
        # --steps counts the warm-up steps too: a row with none left measures nothing
        parser.error(f"--steps ({args.steps}) must exceed --warmup ({args.warmup}): the warm-up steps are not timed")
    directory = Path(args.workdir)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.run:  # a child process: one configuration
        if args.run.startswith("ours"):
            result = run_ours(directory, args.steps, args.warmup, args.tiny, args.run)
        else:
            result = run_trl(directory, args.steps, args.warmup, args.tiny, args.run.removeprefix("trl-"))
        (out / f"{args.run}.json").write_text(json.dumps(result))
        return
    directory.mkdir(parents=True, exist_ok=True)
    info = build_workload(directory, args.tiny)
    ceilings = measure_ceilings()
    release_driver_gpu()  # what building and measuring cached, back before the rows start
    results = {}
    for name in args.only.split(","):
        # a row named twice (A,B,A) runs twice, the second as "A#2": a check that a row's place in
        # the call does not move its time
        key = name if name not in results else f"{name}#{sum(k.split('#')[0] == name for k in results) + 1}"
        command = [sys.executable, __file__, "--run", name, "--out", str(out), "--workdir", str(directory),
                   "--steps", str(args.steps), "--warmup", str(args.warmup)] + (["--tiny"] if args.tiny else [])
        idle = wait_for_idle_gpu()  # the last row's helpers gone first (benchmarks/gpu_idle.py)
        started = time.time()
        with open(out / f"{key}.log", "w") as log, DevicePeak() as device:
            code = run_isolated(command, log, cwd=ROOT)
        if code == 0:
            results[key] = json.loads((out / f"{name}.json").read_text())
        else:
            results[key] = {"error": f"exit {code}, see {key}.log"}
        results[key]["before_row"] = idle
        results[key]["device_peak_gib"] = device.peaks_gib
        results[key]["device_phase_gib"] = device_phase_peaks(device, results[key].get("phase_windows", []))
        results[key]["device_process_gib"] = device.process_peaks_gib
        print(f"{key}: done in {time.time() - started:.0f} s (waited {idle['waited_s']} s for an idle GPU"
              f"{', still there: ' + str(idle['other_gpu_pids']) if idle['other_gpu_pids'] else ''})", flush=True)
        if process_text(results[key]):
            print("  " + process_text(results[key]), flush=True)
    floor = physical_floor(info["params"], ceilings)
    table = report(results, floor)
    print(table)
    (out / "gpu_step.json").write_text(json.dumps({"results": results, "ceilings": ceilings, "floor_s": floor,
                                                   "params": info["params"], "versions": versions()}, indent=2))
    (out / "gpu_step.md").write_text(table + "\n")


def versions() -> dict:
    import torch
    import transformers

    found = {"torch": torch.__version__, "transformers": transformers.__version__}
    try:
        import trl

        found["trl"] = trl.__version__
    except ImportError:
        pass
    if torch.cuda.is_available():
        found["device"] = torch.cuda.get_device_name()
    return found


def report(results: dict, floor: float | None) -> str:
    completions = PROMPTS_PER_STEP * GENERATIONS
    lines = ["| setting | median step s | completions/s | " + HEADER + " | " + DEVICE_HEADER + " | generate / rewards / train / sync s |",
             "| --- | --- | --- | --- | --- | --- |"]
    medians = {}
    for name, result in results.items():
        if "error" in result:
            lines.append(f"| {name} | {result['error']} | | | {device_text(result)} | |")
            continue
        median = statistics.median(result["step_seconds"])
        medians[name] = median
        split = result.get("split")
        split_text = " / ".join(f"{split[k]:.2f}" for k in ("time/generate", "time/rewards", "time/train", "time/sync")) if split else ""
        lines.append(f"| {name} | {median:.2f} | {completions / median:.1f} | {peak_text(result, 2)} | {device_text(result)} | {split_text} |")
    if "ours" in medians:
        for name, median in medians.items():
            if name != "ours":
                lines.append(f"\nours is {median / medians['ours']:.2f}x faster than {name}")
    if floor is not None:
        lines.append(f"\nphysical floor of the step (measured ceilings): {floor:.3f} s")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
