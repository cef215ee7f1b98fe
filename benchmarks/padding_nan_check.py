"""Does a padded batch's backward go non-finite on the GPU, and under which attention kernel?

Seen 2026-12-03 on an H200: the R1 study's distillation (examples/r1_study/distill.yaml, a bf16
2.3M student) took a NaN gradient on the same batch (step 92 of 174) at two learning rates, after
which every weight was NaN (the SFT step now skips such an update, as the GRPO step did). Nothing
in that batch's lengths stood out except its padded length, 320, a multiple of 64 (the other
batches were 296-338 long, none a multiple of 16). One suspect: a left-padded query row whose
keys are all padding, which some SDPA kernels answer with NaN (forward or backward) and others
with zeros. This script builds the student's shape at random init, lays out batches as
grpo.batch does (prompts left-padded, completions right-padded) with padded lengths around 320,
and reports for each SDPA backend whether the loss and the gradient are finite. The suspect was
then found upstream: cuDNN's backward returns NaN at lengths of 64 mod 128 when a query row's
logsumexp is very negative (pytorch/pytorch#196678), and the learner now leaves cuDNN out
(grpo.policy.training_attention): the "learner" column checks that on the GPU.

    python benchmarks/padding_nan_check.py --out $OUT/nan      # GPU, ~30 s
    python benchmarks/padding_nan_check.py --device cpu         # plumbing check only
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def student(device: str, dtype: torch.dtype, vocab: int = 512):
    from transformers import Qwen2Config, Qwen2ForCausalLM

    config = Qwen2Config(vocab_size=vocab, hidden_size=192, num_hidden_layers=4, num_attention_heads=4,
                         num_key_value_heads=2, intermediate_size=768, max_position_embeddings=512,
                         tie_word_embeddings=True, rope_theta=10000.0, attn_implementation="sdpa")
    torch.manual_seed(0)
    return Qwen2ForCausalLM(config).to(device=device, dtype=dtype)


def padded_batch(total: int, rows: int, vocab: int, seed: int):
    """(input_ids, attention_mask, completion_mask) as grpo.batch lays them out: prompts of 122-125
    tokens left-padded to 125, completions right-padded so the longest row is `total` long."""
    from grpo.batch import build_batch
    from grpo.rollout.base import Completion

    g = torch.Generator().manual_seed(seed)
    completions = []
    for i in range(rows):
        prompt = 122 + int(torch.randint(0, 4, (1,), generator=g))
        length = total - 125 if i == 0 else int(torch.randint(40, total - 125 + 1, (1,), generator=g))
        ids = torch.randint(1, vocab, (prompt + length,), generator=g).tolist()
        completions.append(Completion(i, ids[:prompt], ids[prompt:], "", [0.0] * length, "stop"))
    if not any(len(c.prompt_ids) == 125 for c in completions):
        completions[1] = Completion(1, [1] * 125, completions[1].completion_ids, "", completions[1].logprobs, "stop")
    return build_batch(completions, pad_id=0)


def check(model, batch, device: str, backend) -> dict:
    """Loss and gradient of the completion NLL through grpo.policy.completion_logprobs (the
    learner's own path: position ids from the mask, the chunked LM head), under one SDPA backend."""
    from torch.nn.attention import sdpa_kernel

    from grpo.policy import completion_logprobs

    model.zero_grad(set_to_none=True)
    cmask = batch.completion_mask.to(device)
    try:
        guard = backend if callable(backend) else (lambda: sdpa_kernel([backend]) if backend is not None else contextlib.nullcontext())
        with guard():
            logp, _ = completion_logprobs(model, batch.input_ids.to(device), batch.attention_mask.to(device),
                                          cmask.shape[1], chunk_size=128)
            loss = -(logp * cmask).sum() / cmask.sum()
            loss.backward()
    except RuntimeError as err:
        return {"error": str(err).splitlines()[0][:120]}
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    return {"loss_finite": bool(torch.isfinite(loss)), "grad_finite": all(bool(torch.isfinite(g).all()) for g in grads)}


def main() -> None:
    from torch.nn.attention import SDPBackend

    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default=None)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--totals", default="296,304,318,319,320,321,334,336,384")
    parser.add_argument("--rows", type=int, default=64)
    args = parser.parse_args()
    dtype = torch.bfloat16 if args.device == "cuda" else torch.float32
    model = student(args.device, dtype)
    from grpo.policy import training_attention

    # "learner": what the trainer runs since this check's first use, every backend but cuDNN's
    backends = {"default": None, "learner": lambda: training_attention(torch.device(args.device)),
                "math": SDPBackend.MATH, "efficient": SDPBackend.EFFICIENT_ATTENTION}
    if args.device == "cuda":
        backends.update(flash=SDPBackend.FLASH_ATTENTION, cudnn=SDPBackend.CUDNN_ATTENTION)
    results = {}
    print("| padded length | " + " | ".join(backends) + " |")
    print("| --- |" + " --- |" * len(backends))
    for total in (int(t) for t in args.totals.split(",")):
        batch = padded_batch(total, args.rows, model.config.vocab_size, seed=total)
        row = {name: check(model, batch, args.device, backend) for name, backend in backends.items()}
        results[total] = row
        cell = lambda r: r["error"][:40] if "error" in r else (  # noqa: E731
            "ok" if r["loss_finite"] and r["grad_finite"] else f"loss {'ok' if r['loss_finite'] else 'NaN'} grad {'ok' if r['grad_finite'] else 'NaN'}")
        print(f"| {total} | " + " | ".join(cell(r) for r in row.values()) + " |", flush=True)
    if args.out:
        Path(args.out).mkdir(parents=True, exist_ok=True)
        (Path(args.out) / "padding_nan_check.json").write_text(json.dumps(
            {"torch": torch.__version__, "device": torch.cuda.get_device_name() if args.device == "cuda" else "cpu",
             "results": results}, indent=1))


if __name__ == "__main__":
    main()
