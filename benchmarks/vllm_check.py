"""GPU checks of the vLLM engine (issue "vLLM rollout engine"): weight sync, LoRA sync, sampler gap.

    python benchmarks/vllm_check.py --base runs/r1-zero-demo-base --out results/          # full weights
    python benchmarks/vllm_check.py --base runs/r1-zero-demo-base --out results/ --lora   # adapter only

A trainer module and a colocated vLLM engine start from the same checkpoint. The trainer then
takes real optimizer steps (supervised on the engine's own samples, so the weights move where
the samples are), and we compare, on the same fixed completions:
  stale:  trainer after the update vs vLLM before the sync  (must differ: the check can fail)
  synced: trainer after the update vs vLLM after the sync   (must agree within bf16 noise)
and the sampler's own log-probs against the trainer's before the update (the mismatch that
algorithm.sampler_correction addresses). Writes vllm_check[_lora].json under --out.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def trainer_logprobs(model, completions) -> list[list[float]]:
    import torch

    from grpo.policy import completion_logprobs

    out = []
    with torch.no_grad():
        for c in completions:
            ids = torch.tensor([c.prompt_ids + c.completion_ids], device="cuda")
            logp, _ = completion_logprobs(model, ids, torch.ones_like(ids), len(c.completion_ids))
            out.append(logp[0].float().cpu().tolist())
    return out


def gap(a: list[list[float]], b: list[list[float]]) -> dict:
    diffs = [abs(x - y) for row_a, row_b in zip(a, b) for x, y in zip(row_a, row_b)]
    return {"mean_abs": statistics.fmean(diffs), "max_abs": max(diffs), "tokens": len(diffs)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", required=True)
    parser.add_argument("--out", default="vllm-check")
    parser.add_argument("--lora", action="store_true")
    parser.add_argument("--steps", type=int, default=5)
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from grpo.data import R1_ZERO_TEMPLATE
    from grpo.rollout.base import SamplingParams
    from grpo.rollout.vllm_engine import VLLMEngine
    from grpo.rollout.weight_sync import engine_weights
    from grpo.tasks.arithmetic import generate_arithmetic

    torch.manual_seed(0)
    tokenizer = AutoTokenizer.from_pretrained(args.base)
    model = AutoModelForCausalLM.from_pretrained(args.base, dtype=torch.bfloat16).cuda()
    if args.lora:
        from peft import LoraConfig, get_peft_model

        model = get_peft_model(model, LoraConfig(r=16, lora_alpha=32, target_modules="all-linear", task_type="CAUSAL_LM"))
    started = time.time()
    engine = VLLMEngine(
        args.base, tokenizer, dtype="bfloat16", max_prompt_tokens=256, max_completion_tokens=128,
        gpu_memory_utilization=0.25, enforce_eager=False, sleep=True, lora_rank=16 if args.lora else 0,
        weight_source=lambda: engine_weights(model, merge_lora=not args.lora),
    )
    startup = time.time() - started
    rows = generate_arithmetic("test", 8, seed=0, digits=4)
    prompts = [R1_ZERO_TEMPLATE.format(prompt=row["prompt"]) for row in rows]
    params = SamplingParams(n=4, temperature=1.0, max_tokens=128, stop=("</answer>",), seed=0)
    t0 = time.time()
    completions = engine.generate(prompts, params)
    generate_s = time.time() - t0
    again = engine.generate(prompts, params)  # same seed: same samples (after a sleep/wake cycle)
    reproducible = [c.completion_ids for c in completions] == [c.completion_ids for c in again]
    fixed = completions[::4]  # one completion per prompt, kept fixed from here on

    before_trainer = trainer_logprobs(model, fixed)
    before_engine = [engine.sequence_logprobs(c.prompt_ids, c.completion_ids) for c in fixed]
    sampler = [c.logprobs for c in fixed]

    # real updates: AdamW on the negative log-likelihood of the engine's samples
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=3e-4 if args.lora else 1e-4)
    batch = [c for c in completions if c.completion_ids]
    for _ in range(args.steps):
        loss = 0.0
        for c in batch:
            ids = torch.tensor([c.prompt_ids + c.completion_ids], device="cuda")
            logits = model(input_ids=ids).logits[0, len(c.prompt_ids) - 1 : -1].float()
            loss = loss + torch.nn.functional.cross_entropy(logits, ids[0, len(c.prompt_ids):])
        (loss / len(batch)).backward()
        optimizer.step()
        optimizer.zero_grad()
    after_trainer = trainer_logprobs(model, fixed)

    # stale: the engine has not been told yet (LoRA: no new adapter; full: weights not reloaded)
    stale_engine = [engine.sequence_logprobs(c.prompt_ids, c.completion_ids) for c in fixed]
    t0 = time.time()
    if args.lora:
        engine.load_adapter(lambda directory: model.save_pretrained(directory))
    else:
        engine.refresh()
    torch.cuda.synchronize()
    sync_s = time.time() - t0
    synced_engine = [engine.sequence_logprobs(c.prompt_ids, c.completion_ids) for c in fixed]

    result = {
        "mode": "lora-adapter" if args.lora else "full-weights", "startup_s": startup, "generate_s": generate_s,
        "sync_s": sync_s, "reproducible_same_seed": reproducible,
        "before_update/trainer_vs_engine": gap(before_trainer, before_engine),
        "before_update/trainer_vs_sampler": gap(before_trainer, sampler),
        "update_moved_trainer": gap(before_trainer, after_trainer),
        "after_update/trainer_vs_stale_engine": gap(after_trainer, stale_engine),
        "after_update/trainer_vs_synced_engine": gap(after_trainer, synced_engine),
        "peak_gib": torch.cuda.max_memory_allocated() / 2**30,
    }
    name = "vllm_check_lora" if args.lora else "vllm_check"
    (out / f"{name}.json").write_text(json.dumps(result, indent=2))
    print(f"| {result['mode']} | mean abs / max abs log-prob difference over {result['update_moved_trainer']['tokens']} tokens |")
    print("| --- | --- |")
    for key in ("before_update/trainer_vs_engine", "before_update/trainer_vs_sampler", "update_moved_trainer",
                "after_update/trainer_vs_stale_engine", "after_update/trainer_vs_synced_engine"):
        print(f"| {key} | {result[key]['mean_abs']:.4f} / {result[key]['max_abs']:.4f} |")
    print(f"startup {startup:.1f} s, generate 32 x 128 {generate_s:.2f} s, sync {sync_s * 1000:.0f} ms, "
          f"same seed reproducible: {reproducible}")
    synced, stale = result["after_update/trainer_vs_synced_engine"]["mean_abs"], result["after_update/trainer_vs_stale_engine"]["mean_abs"]
    ok = synced < 0.02 and stale > 5 * synced
    print("WEIGHT SYNC", "OK" if ok else "FAILED")


if __name__ == "__main__":
    main()
