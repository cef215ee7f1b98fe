"""Workload R: one GRPO step at the size users run, ours against TRL with vLLM colocated, in one call.

Workload (issue "Throughput at realistic size"): the Qwen2.5-1.5B architecture, random init, bf16;
32 prompts x 16 samples; 256-token prompts; completions of 64-1024 tokens, their lengths spread by
128 stop ids whose (tied) embedding rows are scaled x2.3 (../shared/DESIGN.md, "Benchmarks against
peers"); beta = 0, mu = 1; gradient checkpointing; pure bf16 for every row (like for like).

    python benchmarks/realistic_step.py --out results/ --only trl-vllm,ours-vllm,ours-hf   # GPU
    python benchmarks/realistic_step.py --out results/ --only ours-vllm-sep,ours-vllm-async    # 2 GPUs
    python benchmarks/realistic_step.py --tiny --out /tmp/bench-r                          # CPU dry run
    # the memory table's LoRA rows: the Qwen2.5-7B architecture, 8 prompts x 16 samples a step
    python benchmarks/realistic_step.py --out results/ --model 7b --prompts 8 --only ours-vllm-lora,trl-vllm-lora --steps 2
    # ... and TRL's lower-memory setting (vLLM asleep during the update), ours at TRL's micro-batch size
    python benchmarks/realistic_step.py --out results/ --model 7b --prompts 8 --only trl-vllm-lora-sleep,ours-vllm-lora-8k --steps 2

Each row runs in its own process (clean peak-memory counters); the workload is built once under
--workdir and reused (a warm machine keeps it between calls). Printed: median step seconds,
completion tokens per second, peak GPU memory, the split, the realised completion-length histogram
(every system's lengths are recorded by the same reward function), and the ratio to TRL.
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

PROMPTS, GROUP, PROMPT_TOKENS, MIN_TOKENS, MAX_TOKENS = 32, 16, 256, 64, 1024
# 127 stop ids + the tokenizer's EOS = 128, the most vLLM accepts
STOP_IDS, STOP_SCALE = 127, 2.3
QWEN_15B = dict(hidden_size=1536, num_hidden_layers=28, num_attention_heads=12, num_key_value_heads=2,
                intermediate_size=8960, vocab_size=151936, tie_word_embeddings=True, max_position_embeddings=32768,
                rope_theta=1000000.0, rms_norm_eps=1e-6)
QWEN_7B = dict(hidden_size=3584, num_hidden_layers=28, num_attention_heads=28, num_key_value_heads=4,
               intermediate_size=18944, vocab_size=152064, tie_word_embeddings=False, max_position_embeddings=32768,
               rope_theta=1000000.0, rms_norm_eps=1e-6)
SHAPES = {"1.5b": QWEN_15B, "7b": QWEN_7B}
TINY = dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, intermediate_size=128,
            vocab_size=2000, tie_word_embeddings=True, max_position_embeddings=2048)

PURE_BF16 = "trainer.master_weights=none"
SEPARATE = ["rollout.engine=vllm", "rollout.colocate=false", "rollout.vllm.gpu_memory_utilization=0.85",
            "algorithm.sampler_correction=tis", "trainer.microbatch_tokens=20480", PURE_BF16]


def shared_gpu(share: float, vllm_share: float) -> list[str]:
    """SEPARATE on one GPU: the vLLM worker takes `share` of the learner's card in Ray's count and
    `vllm_share` of its memory."""
    return [o for o in SEPARATE if not o.startswith("rollout.vllm.gpu_memory_utilization=")] + [
        f"rollout.gpus_per_worker={share}", f"rollout.vllm.gpu_memory_utilization={vllm_share}"]


def no_recompute(tokens: int) -> list[str]:
    """Transformers engine, captured decode, packed micro-batches of `tokens`, no recomputation."""
    return ["rollout.engine=transformers", "rollout.capture=cuda_graph", f"trainer.microbatch_tokens={tokens}",
            "trainer.packing=true", "model.gradient_checkpointing=false", PURE_BF16]


OURS = {
    # the settings: micro-batch of 16 rows
    "ours-hf-mb16": ["rollout.engine=transformers", "trainer.microbatch_size=16", PURE_BF16],
    # token-budgeted micro-batches (rows sorted by length, packed to 16 x 1280 tokens)
    "ours-hf": ["rollout.engine=transformers", "trainer.microbatch_tokens=20480", PURE_BF16],
    # eager decoding (dynamic cache): no compiled graph per batch size while rows leave the batch
    # the decode step captured as CUDA graphs directly (no torch.compile), compaction's batch sizes one graph each
    "ours-hf-graph": ["rollout.engine=transformers", "rollout.capture=cuda_graph", "trainer.microbatch_tokens=20480",
                      "trainer.packing=true", PURE_BF16],
    # the same without recomputation (a quarter of the training FLOPs): the candidate for the 40%
    # matmul goal; no vLLM holds memory here, so packed micro-batches of 16,384 real tokens keep
    # every activation
    "ours-hf-graph-nogc": no_recompute(16384),
    # the same with smaller token budgets: 16,384 kept activations worth 95 GiB at the peak (H200,
    # 2026-12-03) against TRL+vLLM's 65 GiB; the kept activations scale with the budget, so these
    # rows look for the budget that trains without recomputation at no more memory than TRL. Since
    # the KV pool (grpo/rollout/kv_pool.py) frees ~17 GiB of idle caches, 12k is expected to fit too
    **{f"ours-hf-graph-nogc-{k}k": no_recompute(k * 1024) for k in (12, 8, 6, 4)},
    # the KV cache freed after each generation (rollout.release_cache): the update trains in its
    # 17.5 GiB, and the decode graphs are captured again each step (~1 s predicted)
    **{f"ours-hf-graph-nogc-{k}k-release": no_recompute(k * 1024) + ["rollout.release_cache=true"] for k in (16, 12, 8)},
    # Liger's RMSNorm and SwiGLU keep about a third less activation memory a token without
    # recomputation (no float32 norm copies, no SiLU output): larger token budgets, and with them
    # the matmul rate, under TRL+vLLM's 44 GiB on an H100 (8k with release measured 38.0 GiB)
    **{f"ours-hf-graph-nogc-{k}k-release-liger": no_recompute(k * 1024) + ["rollout.release_cache=true",
                                                                           "model.liger_kernel=true"]
       for k in (12, 16)},
    "ours-hf-eager": ["rollout.engine=transformers", "rollout.compile=false", "trainer.microbatch_tokens=20480", PURE_BF16],
    "ours-vllm-mb16": ["rollout.engine=vllm", "trainer.microbatch_size=16", PURE_BF16],
    "ours-vllm": ["rollout.engine=vllm", "trainer.microbatch_tokens=20480", PURE_BF16],
    # Liger-Kernel's fused RMSNorm / SwiGLU / RoPE in the trainer (model.liger_kernel)
    "ours-vllm-liger": ["rollout.engine=vllm", "trainer.microbatch_tokens=20480", "model.liger_kernel=true", PURE_BF16],
    # vLLM kept awake between steps (as TRL's colocate mode does by default): no sleep / wake-up per step
    "ours-vllm-awake": ["rollout.engine=vllm", "trainer.microbatch_tokens=20480", "rollout.vllm.sleep=false", PURE_BF16],
    # padding-free micro-batches (trainer.packing): one packed sequence each, varlen FlashAttention
    "ours-vllm-packed": ["rollout.engine=vllm", "trainer.microbatch_tokens=20480", "trainer.packing=true", PURE_BF16],
    # no activation recomputation (a quarter of the training FLOPs), micro-batches small enough to keep
    # every activation: compared with trl-vllm-nogc, TRL with gradient checkpointing off as well
    "ours-vllm-nogc": ["rollout.engine=vllm", "trainer.microbatch_tokens=8192", "model.gradient_checkpointing=false",
                       PURE_BF16],
    # both: packed micro-batches hold only real tokens, so the same activation memory buys more of them
    "ours-vllm-packed-nogc": ["rollout.engine=vllm", "trainer.microbatch_tokens=12288", "trainer.packing=true",
                              "model.gradient_checkpointing=false", PURE_BF16],
    # LoRA (r 16, alpha 32, every linear layer; TRL gets the same PEFT config), for the memory table
    "ours-vllm-lora": ["rollout.engine=vllm", "trainer.microbatch_tokens=20480", "model.lora.enabled=true",
                       "model.lora.r=16", "model.lora.alpha=32", PURE_BF16],
    # the same with TRL's micro-batch size in tokens (16 rows of ~400): activations ~2.5x smaller
    "ours-vllm-lora-8k": ["rollout.engine=vllm", "trainer.microbatch_tokens=8192", "model.lora.enabled=true",
                          "model.lora.r=16", "model.lora.alpha=32", PURE_BF16],
    # the trainer's frozen base weights as views of vLLM's (rollout.vllm.share_lora_base): one copy of
    # the 7B base instead of two, and no base reload at each wake-up
    "ours-vllm-lora-8k-shared": ["rollout.engine=vllm", "trainer.microbatch_tokens=8192", "model.lora.enabled=true",
                                 "model.lora.r=16", "model.lora.alpha=32", "rollout.vllm.share_lora_base=true", PURE_BF16],
    # 2 GPUs: the learner on one, vLLM on the other (weights broadcast over NCCL after each update);
    # synchronous, then generation for step t+1 overlapping step t's training
    "ours-vllm-sep": SEPARATE,
    "ours-vllm-async": SEPARATE + ["rollout.max_staleness=1"],
    # one GPU, two processes: vLLM in its own actor beside the learner (rollout.gpus_per_worker),
    # weights through Ray's object store; asynchronous, the decode (memory-bound) runs while the
    # update (compute-bound) does, on the same card
    "ours-vllm-shared-sync": shared_gpu(0.5, 0.45),
    "ours-vllm-shared-async": shared_gpu(0.5, 0.45) + ["rollout.max_staleness=1"],
    # the same with vLLM at 0.30 of the card (its KV cache needs ~9 GiB here): under TRL's device peak
    "ours-vllm-shared-async-lowmem": shared_gpu(0.35, 0.3) + ["rollout.max_staleness=1"],
}


def build_workload(directory: Path, tiny: bool, model_size: str = "1.5b") -> dict:
    """Model (bf16 safetensors), stop ids in generation_config, a word-level tokenizer (token i is
    the word 't<i>', so a completion's word count is its token count) and the prompts."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

    suffix = "-tiny" if tiny else ("" if model_size == "1.5b" else f"-{model_size}")
    marker = directory / f"ready-{STOP_IDS}{suffix}"
    if marker.exists():
        return json.loads(marker.read_text())
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    shape = TINY if tiny else SHAPES[model_size]
    vocab = shape["vocab_size"]
    rng = random.Random(0)
    stops = sorted(rng.sample(range(vocab // 2, vocab - 2), STOP_IDS if not tiny else 16))
    torch.manual_seed(0)
    config = Qwen2Config(**shape, bos_token_id=vocab - 1, eos_token_id=stops, pad_token_id=vocab - 2)
    device = "cuda" if torch.cuda.is_available() and not tiny else "cpu"
    with torch.device(device):
        model = Qwen2ForCausalLM(config).to(torch.bfloat16 if not tiny else torch.float32)
    with torch.no_grad():  # stop rows win more often: lengths spread instead of running to the cap
        model.get_output_embeddings().weight[stops] *= STOP_SCALE  # tied (1.5B): the same tensor as the input
    model.generation_config.eos_token_id = stops
    model.generation_config.pad_token_id = vocab - 2
    model.save_pretrained(directory / "model")
    words = {f"t{i}": i for i in range(vocab - 2)} | {"<pad>": vocab - 2, "<eos>": vocab - 1}
    backend = Tokenizer(models.WordLevel(words, unk_token="t0"))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    backend.decoder = decoders.WordPiece(prefix="##", cleanup=False)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, eos_token="<eos>", pad_token="<pad>")
    tokenizer.save_pretrained(directory / "tokenizer")
    stop_set = set(stops)
    with open(directory / "prompts.jsonl", "w") as handle:
        for _ in range(PROMPTS * 12):
            ids = [rng.randrange(10, vocab // 2) for _ in range(PROMPT_TOKENS if not tiny else 16)]
            handle.write(json.dumps({"prompt": " ".join(f"t{i}" for i in ids if i not in stop_set)}) + "\n")
    info = {"params": sum(p.numel() for p in model.parameters()), "stop_ids": len(stops)}
    marker.write_text(json.dumps(info))
    return info


# --------------------------------------------------------------------------- the runs


def run_ours(directory: Path, out: Path, steps: int, warmup: int, tiny: bool, variant: str) -> dict:
    from grpo.config import load_recipe
    from grpo.logging import read_metrics
    from grpo.trainer import train

    overrides = [
        f"model.path={directory / 'model'}", f"model.tokenizer={directory / 'tokenizer'}",
        f"data.train.path={directory / 'prompts.jsonl'}", f"output_dir={directory / 'runs'}", "data.template=plain",
        f"rollout.group_size={GROUP}", f"rollout.prompts_per_step={PROMPTS if not tiny else 2}",
        f"rollout.max_prompt_tokens={PROMPT_TOKENS}", f"rollout.max_completion_tokens={MAX_TOKENS if not tiny else 32}",
        f"rollout.min_completion_tokens={MIN_TOKENS if not tiny else 4}", "rollout.temperature=1.0",
        "rollout.ignore_eos=false", "rollout.vllm.gpu_memory_utilization=0.35", f"trainer.steps={steps}",
        "trainer.learning_rate=1e-6",
        f"trainer.device={'cpu' if tiny else 'cuda'}", f"model.dtype={'float32' if tiny else 'bfloat16'}",
        "model.gradient_checkpointing=true", "trainer.logprob_chunk_tokens=1024", "logging.progress=false",
        "logging.samples_per_step=0", "algorithm.beta=0.0",
        "rewards.verifiers=[{name: 'benchmarks/bench_rewards.py:length_recording_reward'}]",
        f"name={variant}", *OURS[variant],
    ]
    if tiny:
        overrides = [o.replace("rollout.engine=vllm", "rollout.engine=transformers").replace("=20480", "=256")
                     .replace("model.liger_kernel=true", "model.liger_kernel=false")  # GPU kernels
                     for o in overrides]
    recipe = load_recipe(ROOT / "benchmarks" / "gpu_step_recipe.yaml", overrides)
    shutil.rmtree(recipe.run_dir, ignore_errors=True)
    with StepClock(recipe.run_dir / "metrics.jsonl") as clock:
        train(recipe)
    rows = [m for m in read_metrics(directory / "runs" / variant) if "time/step" in m][warmup:]
    # the final checkpoint (1.5B with fp32 Adam state: ~18 GB) is not what a row measures, and
    # several rows' checkpoints filled the device's disk before a 7B row could save
    shutil.rmtree(recipe.run_dir, ignore_errors=True)
    split = {k: statistics.median(m[k] for m in rows) for k in ("time/generate", "time/rewards", "time/train", "time/sync")}
    engine_sync = statistics.median(m.get("time/engine_sync", 0.0) for m in rows)
    split["time/train"] -= engine_sync
    split["time/sync"] += engine_sync
    # asynchronous rows: how long training waited for the rollouts, and how old they were
    overlap = {k: [m[k] for m in rows if k in m] for k in ("time/rollout_wait", "rollout/staleness")}
    return {"step_seconds": [m["time/step"] for m in rows], "peak_gib": max(m.get("memory/peak_gib", 0.0) for m in rows),
            "peak_split": phase_peaks(rows), "split": split, "completion_tokens": [m["completion/length_mean"] * PROMPTS * GROUP for m in rows],
            "phase_windows": phase_windows(rows, clock.seen),
            **{k: v for k, v in overlap.items() if v}}


def run_trl(directory: Path, out: Path, steps: int, warmup: int, tiny: bool, setting: str) -> dict:
    """TRL's GRPOTrainer as its users run it at this size: vLLM colocated in the trainer's process
    (setting "vllm-nogc": gradient checkpointing off; "vllm-lora": PEFT LoRA as ours-vllm-lora; a
    setting with "sleep": vLLM's sleep mode during the update, TRL's lower-memory choice, off by default)."""
    from trl import GRPOConfig

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from bench_rewards import length_recording_reward
    from bench_trl import time_trl_steps

    prompts = [json.loads(line)["prompt"] for line in (directory / "prompts.jsonl").read_text().splitlines()]
    config = GRPOConfig(
        output_dir=str(directory / f"trl-{setting}"), report_to="none", save_strategy="no", logging_steps=1,
        per_device_train_batch_size=GROUP, gradient_accumulation_steps=PROMPTS if not tiny else 2,
        num_generations=GROUP, max_completion_length=MAX_TOKENS if not tiny else 32,
        temperature=1.0, beta=0.0, num_iterations=1, learning_rate=1e-6,
        max_steps=steps, use_cpu=tiny, seed=0, gradient_checkpointing="nogc" not in setting, bf16=not tiny,
        model_init_kwargs={"dtype": "bfloat16" if not tiny else "float32"},
        use_vllm=not tiny, vllm_mode="colocate", vllm_gpu_memory_utilization=0.35,
        vllm_enable_sleep_mode="sleep" in setting and not tiny,
        generation_kwargs={"min_tokens": MIN_TOKENS} if not tiny else {"min_new_tokens": 4},
    )
    peft_config = None
    if "lora" in setting:
        from peft import LoraConfig

        peft_config = LoraConfig(r=16, lora_alpha=32, lora_dropout=0.0, target_modules="all-linear", task_type="CAUSAL_LM")
    return time_trl_steps(config, directory, length_recording_reward, prompts, warmup, peft_config=peft_config)


# --------------------------------------------------------------------------- table


def histogram(lengths: list[int]) -> dict:
    if not lengths:
        return {}
    ordered = sorted(lengths)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))]  # noqa: E731
    return {"count": len(ordered), "mean": sum(ordered) / len(ordered), "p10": pick(0.1), "p50": pick(0.5),
            "p90": pick(0.9), "min": ordered[0], "max": ordered[-1],
            "at_cap": sum(length >= MAX_TOKENS for length in ordered) / len(ordered)}


def report(results: dict) -> str:
    lines = ["| system | median step s | completion tok/s | " + HEADER + " | " + DEVICE_HEADER +
             " | generate / train / sync s | lengths mean p10 p50 p90 (at cap) |", "| --- | --- | --- | --- | --- | --- | --- |"]
    rates = {}
    for name, result in results.items():
        if "error" in result:
            lines.append(f"| {name} | {result['error']} | | | {device_text(result)} | | |")
            continue
        median = statistics.median(result["step_seconds"])
        hist = result.get("lengths", {})
        tokens = hist.get("mean", 0) * PROMPTS * GROUP
        rates[name] = tokens / median if median else 0.0
        split = result.get("split")
        split_text = " / ".join(f"{split[k]:.1f}" for k in ("time/generate", "time/train", "time/sync")) if split else ""
        hist_text = (f"{hist['mean']:.0f} {hist['p10']} {hist['p50']} {hist['p90']} ({hist['at_cap']:.1%})" if hist else "")
        lines.append(f"| {name} | {median:.1f} | {rates[name]:.0f} | {peak_text(result, 1)} | {device_text(result)} | {split_text} | {hist_text} |")
    for name, result in results.items():
        if result.get("rollout/staleness"):
            lines.append(f"\n{name}: training waited {statistics.median(result['time/rollout_wait']):.1f} s a step for "
                         f"rollouts (median), staleness {statistics.mean(result['rollout/staleness']):.2f} updates (mean)")
    if rates.get("ours-vllm-sep") and "ours-vllm-async" in rates:
        lines.append(f"\nasync / sync on 2 GPUs: {rates['ours-vllm-async'] / rates['ours-vllm-sep']:.2f}x completion tokens per second")
    if rates.get("ours-vllm-shared-sync") and "ours-vllm-shared-async" in rates:
        lines.append(f"\nasync / sync on one shared GPU: {rates['ours-vllm-shared-async'] / rates['ours-vllm-shared-sync']:.2f}x "
                     "completion tokens per second")
    if "trl-vllm" in rates and rates["trl-vllm"]:
        for name, rate in rates.items():
            if name != "trl-vllm":
                lines.append(f"\n{name}: {rate / rates['trl-vllm']:.2f}x TRL+vLLM's completion tokens per second")
    return "\n".join(lines)


def main() -> None:
    global PROMPTS
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default="bench-r")
    parser.add_argument("--tiny", action="store_true", help="small model on CPU: checks the script, measures nothing")
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--only", default="trl-vllm,ours-vllm,ours-hf")
    parser.add_argument("--run", help=argparse.SUPPRESS)
    parser.add_argument("--workdir", default="/tmp/grpo-bench-r")
    parser.add_argument("--model", choices=sorted(SHAPES), default="1.5b", help="the policy's architecture")
    parser.add_argument("--prompts", type=int, default=PROMPTS, help="prompts a step (x 16 samples)")
    args = parser.parse_args()
    if args.steps <= args.warmup:
        # --steps counts the warm-up steps too: a row with none left measures nothing
        parser.error(f"--steps ({args.steps}) must exceed --warmup ({args.warmup}): the warm-up steps are not timed")
    PROMPTS = args.prompts
    directory, out = Path(args.workdir + ("" if args.model == "1.5b" else f"-{args.model}")), Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.run:  # a child process: one row
        os.environ["GRPO_BENCH_LENGTHS"] = str(out / f"{args.run}.lengths")
        runner = run_ours if args.run.startswith("ours") else run_trl
        result = runner(directory, out, args.steps, args.warmup, args.tiny, args.run if args.run.startswith("ours") else args.run.removeprefix("trl-"))
        (out / f"{args.run}.json").write_text(json.dumps(result))
        return
    info = build_workload(directory, args.tiny, args.model)
    release_driver_gpu()  # what building and measuring cached, back before the rows start
    results = {}
    for name in args.only.split(","):
        (out / f"{name}.lengths").unlink(missing_ok=True)
        command = [sys.executable, __file__, "--run", name, "--out", str(out), "--workdir", args.workdir,
                   "--steps", str(args.steps), "--warmup", str(args.warmup), "--model", args.model,
                   "--prompts", str(args.prompts)] + (["--tiny"] if args.tiny else [])
        idle = wait_for_idle_gpu()  # the last row's helpers gone first (benchmarks/gpu_idle.py)
        started = time.time()
        with open(out / f"{name}.log", "w") as log, DevicePeak() as device:
            code = run_isolated(command, log, cwd=ROOT)
        if code == 0:
            results[name] = json.loads((out / f"{name}.json").read_text())
            results[name]["before_row"] = idle
            lengths_file = out / f"{name}.lengths"
            lengths = [int(x) for x in lengths_file.read_text().split()] if lengths_file.exists() else []
            # the warm-up steps' completions are recorded too: keep the measured steps' share
            keep = len(lengths) * (args.steps - args.warmup) // max(1, args.steps)
            results[name]["lengths"] = histogram(lengths[-keep:] if keep else lengths)
        else:
            results[name] = {"error": f"exit {code}, see {name}.log"}
        results[name]["device_peak_gib"] = device.peaks_gib
        results[name]["device_phase_gib"] = device_phase_peaks(device, results[name].get("phase_windows", []))
        results[name]["device_process_gib"] = device.process_peaks_gib
        print(f"{name}: done in {time.time() - started:.0f} s (waited {idle['waited_s']} s for an idle GPU"
              f"{', still there: ' + str(idle['other_gpu_pids']) if idle['other_gpu_pids'] else ''})", flush=True)
        if process_text(results[name]):
            print("  " + process_text(results[name]), flush=True)
        # after every row: a device call cut short keeps the rows it finished
        (out / "realistic_step.json").write_text(json.dumps({"results": results, "workload": info,
                                                             "versions": versions()}, indent=2))
        (out / "realistic_step.md").write_text(report(results) + "\n")
    print((out / "realistic_step.md").read_text())


def versions(names: tuple[str, ...] = ("trl", "vllm")) -> dict:
    """torch and transformers as this process imports them (verl_row's driver runs with verl's own
    transformers first on its path), plus `names` where installed, read from their metadata: a
    version report must not import verl or vLLM into the driver, nor fail a finished row."""
    from importlib.metadata import PackageNotFoundError, version

    import torch
    import transformers

    found = {"torch": torch.__version__, "transformers": transformers.__version__}
    for name in names:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            pass
    if torch.cuda.is_available():
        found["device"] = torch.cuda.get_device_name()
    return found


if __name__ == "__main__":
    main()
