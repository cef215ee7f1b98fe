"""How the transformers engine's eager decode step scales with the batch, at realistic size.

At 1.5B and 512 completions a step (benchmarks/realistic_step.py, row ours-hf-eager) generation
took 103 s: the engine decodes 256 rows at a time, so 2 x ~1,024 steps of ~50 ms. If a step is
bound by kernel launches rather than by memory or compute, decoding all 512 rows together halves
the number of steps at little cost per step. This measures one eager decode step (DynamicCache,
with and without the left-padding mask the engine passes) and the sampling step, per batch size.

    python benchmarks/decode_scaling.py --out $OUT/decode          # GPU: Qwen2.5-1.5B shape, random init
    python benchmarks/decode_scaling.py --tiny --out /tmp/decode    # CPU plumbing check
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.realistic_step import QWEN_15B, TINY  # noqa: E402
from grpo.rollout.sampling import sample_tokens  # noqa: E402


def timed(fn, repeats: int, device: torch.device) -> float:
    """Seconds per call, after one untimed call."""
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - start) / repeats


def measure(model, batch: int, context: int, repeats: int, device: torch.device) -> dict:
    vocab = model.config.vocab_size
    ids = torch.randint(10, vocab - 10, (batch, context), device=device)
    token = torch.randint(10, vocab - 10, (batch, 1), device=device)
    with torch.inference_mode():
        cache = model(input_ids=ids, use_cache=True).past_key_values
        position = torch.full((batch, 1), context, device=device)

        def step(masked: bool):
            # the cache grows by one token a call, as in generation (repeats << context)
            length = cache.get_seq_length()
            mask = torch.ones((batch, length + 1), dtype=torch.long, device=device) if masked else None
            return model(input_ids=token, position_ids=position, attention_mask=mask, past_key_values=cache,
                         use_cache=True).logits[:, -1, :]

        plain = timed(lambda: step(False), repeats, device)
        masked = timed(lambda: step(True), repeats, device)
        logits = step(False).float()
        generator = torch.Generator(device=device).manual_seed(0)
        sampling = timed(lambda: sample_tokens(logits, 1.0, 1.0, generator), repeats, device)
    return {"batch": batch, "context": context, "step_ms": 1000 * plain, "masked_step_ms": 1000 * masked,
            "sampling_ms": 1000 * sampling, "per_row_us": 1e6 * (masked + sampling) / batch}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default="bench-decode")
    parser.add_argument("--tiny", action="store_true")
    parser.add_argument("--batches", default="64,256,512")
    parser.add_argument("--context", type=int, default=400, help="tokens already in the cache (prompt + completion so far)")
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    from transformers import Qwen2Config, Qwen2ForCausalLM

    device = torch.device("cpu" if args.tiny or not torch.cuda.is_available() else "cuda")
    dims = TINY if args.tiny else QWEN_15B
    config = Qwen2Config(**dims, bos_token_id=dims["vocab_size"] - 1, eos_token_id=dims["vocab_size"] - 1)
    torch.manual_seed(0)
    with torch.device(device):
        model = Qwen2ForCausalLM(config).to(torch.bfloat16 if device.type == "cuda" else torch.float32).eval()
    rows = []
    for batch in (int(b) for b in args.batches.split(",")):
        rows.append(measure(model, batch, args.context, args.repeats, device))
        print(json.dumps(rows[-1]), flush=True)
        if device.type == "cuda":
            torch.cuda.empty_cache()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    lines = [f"Eager decode step, {'tiny' if args.tiny else 'Qwen2.5-1.5B shape'}, {device.type}, context {args.context}",
             "", "| batch | step ms | step ms with mask | sampling ms | (step + sampling) per row, us |",
             "| --- | --- | --- | --- | --- |"]
    lines += [f"| {r['batch']} | {r['step_ms']:.1f} | {r['masked_step_ms']:.1f} | {r['sampling_ms']:.1f} | "
              f"{r['per_row_us']:.0f} |" for r in rows]
    (out / "decode_scaling.md").write_text("\n".join(lines) + "\n")
    (out / "decode_scaling.json").write_text(json.dumps(rows, indent=2))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
