"""trainer.packing on a GPU: packed vs padded log-probs (must agree to bf16 rounding: both are compared
with the padded path in fp32) and the time of
one forward + backward of a workload-R-like micro-batch (16 rows, 256-token prompts, completions
of 64-1,024 tokens) at the Qwen2.5-1.5B shape, random init.

    python benchmarks/packing_check.py --out $OUT/packing        # GPU
    python benchmarks/packing_check.py --tiny --out /tmp/packing  # CPU plumbing check
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.decode_scaling import timed  # noqa: E402
from benchmarks.realistic_step import QWEN_15B, TINY  # noqa: E402
from grpo.packing import _cuda_varlen, enable, packed_completion_logprobs  # noqa: E402
from grpo.policy import completion_logprobs  # noqa: E402


def batch(rows: int, prompt: int, low: int, high: int, vocab: int, device: torch.device, seed: int = 0):
    """Left-padded prompts of `prompt` tokens, right-padded completions of low..high tokens."""
    rng = random.Random(seed)
    lengths = sorted(rng.randint(low, high) for _ in range(rows))
    width = max(lengths)
    ids = torch.zeros(rows, prompt + width, dtype=torch.long)
    mask = torch.zeros_like(ids)
    for row, length in enumerate(lengths):
        ids[row, : prompt + length] = torch.randint(10, vocab - 10, (prompt + length,))
        mask[row, : prompt + length] = 1
    return ids.to(device), mask.to(device), width, lengths


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default="bench-packing")
    parser.add_argument("--tiny", action="store_true")
    args = parser.parse_args()
    from transformers import Qwen2Config, Qwen2ForCausalLM

    device = torch.device("cpu" if args.tiny or not torch.cuda.is_available() else "cuda")
    dims = TINY if args.tiny else QWEN_15B
    torch.manual_seed(0)
    config = Qwen2Config(**dims, attn_implementation="sdpa")
    with torch.device(device):
        model = Qwen2ForCausalLM(config).to(torch.bfloat16 if device.type == "cuda" else torch.float32)
    model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    prompt, low, high = (256, 64, 1024) if not args.tiny else (8, 2, 16)
    ids, mask, width, lengths = batch(16, prompt, low, high, dims["vocab_size"], device)
    real = mask[:, -width:].bool()

    def step(score):
        model.zero_grad(set_to_none=True)
        logprobs, _ = score(model, ids, mask, width, chunk_size=1024)
        logprobs[real].sum().backward()
        return logprobs.detach()

    padded_logprobs = step(completion_logprobs)
    padded_s = timed(lambda: step(completion_logprobs), 3, device)
    enable(model)
    packed_logprobs = step(packed_completion_logprobs)
    packed_s = timed(lambda: step(packed_completion_logprobs), 3, device)
    gap = (packed_logprobs[real].float() - padded_logprobs[real].float()).abs()
    # what bf16 rounding alone costs: both bf16 paths against the padded path in fp32 (no TF32)
    torch.backends.cuda.matmul.allow_tf32 = False
    model.float()
    with torch.no_grad():
        reference, _ = completion_logprobs(model, ids, mask, width, chunk_size=1024)
    off_padded = (padded_logprobs[real].float() - reference[real]).abs()
    off_packed = (packed_logprobs[real].float() - reference[real]).abs()
    result = {"device": device.type, "varlen_kernel": _cuda_varlen() is not None and device.type == "cuda",
              "rows": 16, "real_tokens": int(mask.sum()), "padded_tokens": int(mask.numel()),
              "padded_s": padded_s, "packed_s": packed_s, "speedup": padded_s / packed_s,
              "logprob_gap_mean": float(gap.mean()), "logprob_gap_max": float(gap.max()),
              "padded_vs_fp32_mean": float(off_padded.mean()), "padded_vs_fp32_max": float(off_padded.max()),
              "packed_vs_fp32_mean": float(off_packed.mean()), "packed_vs_fp32_max": float(off_packed.max()),
              "lengths": lengths}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "packing_check.json").write_text(json.dumps(result, indent=2))
    print(json.dumps({k: v for k, v in result.items() if k != "lengths"}, indent=2))


if __name__ == "__main__":
    main()
