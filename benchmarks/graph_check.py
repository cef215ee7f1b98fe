"""The transformers engine's decode step captured as CUDA graphs (`rollout.capture: cuda_graph`) against
eager decoding (DynamicCache as with `rollout.compile: false`, and on the static cache) and against
torch.compile's graphs: greedy tokens equal to the first mode's, and the time of one generate call
(capture and compile included, then again warm).

At workload R's shape (Qwen2.5-1.5B architecture, random init, bf16, 256-token prompts) an eager
step costs ~50-65 ms whatever the batch (benchmarks/decode_scaling.py): launches, not math.

    python benchmarks/graph_check.py --out $OUT/graphs            # GPU
    python benchmarks/graph_check.py --shape study --tokens 256 --out $OUT/graphs-study   # the R1 study's 17.5M base
    python benchmarks/graph_check.py --tiny --out /tmp/graphs     # CPU plumbing check (no capture)
    python benchmarks/graph_check.py --finish 64 --tokens 256 --modes dynamic,cuda_graph,cuda_graph_release --out $OUT/pool

`--finish K` treats K token ids as EOS, so rows end at different steps and compaction moves the
survivors into smaller caches (all of them views of one KV pool, grpo/rollout/kv_pool.py); the
mode `cuda_graph_release` frees the caches after each call (rollout.release_cache). `held_gib`
is what the engine still holds after its call: the largest cache, or nothing when released.
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.realistic_step import QWEN_15B, TINY  # noqa: E402

# examples/r1_study/countdown_corpus.py's default base: its eager decoding took 60-90 ms a step in
# the study's first GPU check, far more than 8 small layers need
STUDY = dict(hidden_size=384, num_hidden_layers=8, num_attention_heads=6, num_key_value_heads=2,
             intermediate_size=1536, vocab_size=512, tie_word_embeddings=True, max_position_embeddings=512)
from grpo.rollout.base import SamplingParams  # noqa: E402
from grpo.rollout.hf_engine import TransformersEngine  # noqa: E402


class _Tokenizer:
    """Just what the engine asks of a tokenizer when prompts come as ids and no stop strings are set."""

    pad_token_id, eos_token_id, bos_token_id = 0, 1, None

    def decode(self, ids, skip_special_tokens=False):
        return " ".join(map(str, ids))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default="bench-graphs")
    parser.add_argument("--tiny", action="store_true")
    parser.add_argument("--rows", type=int, default=512)
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--modes", default="dynamic,eager,cuda_graph,torch_compile")
    parser.add_argument("--shape", choices=["1.5b", "study"], default="1.5b")
    parser.add_argument("--finish", type=int, default=0, help="token ids that end a row (0: every row runs --tokens)")
    args = parser.parse_args()
    from transformers import Qwen2Config, Qwen2ForCausalLM

    cuda = torch.cuda.is_available() and not args.tiny
    device = torch.device("cuda" if cuda else "cpu")
    dims = TINY if args.tiny else {"1.5b": QWEN_15B, "study": STUDY}[args.shape]
    torch.manual_seed(0)
    with torch.device(device):
        model = Qwen2ForCausalLM(Qwen2Config(**dims, attn_implementation="sdpa")).to(torch.bfloat16 if cuda else torch.float32)
    model.eval()
    prompt = 256 if args.shape == "1.5b" else 64
    rows, tokens, prompt = (args.rows, args.tokens, prompt) if not args.tiny else (8, 8, 16)
    generator = torch.Generator().manual_seed(0)
    prompts = [torch.randint(10, dims["vocab_size"] - 10, (prompt - (i % 7),), generator=generator).tolist() for i in range(rows)]
    params = SamplingParams(n=1, temperature=0.0, max_tokens=tokens, ignore_eos=not args.finish)
    results, reference = {}, None
    for mode in args.modes.split(","):
        # dynamic: rollout.compile=false (DynamicCache, eager); eager: the static cache without capture
        release = mode.endswith("_release")
        capture = mode.removesuffix("_release")
        captured = capture in ("cuda_graph", "torch_compile")
        gc.collect()  # the last mode's engine is a reference cycle (its captured step holds it): free it first
        baseline = torch.cuda.memory_allocated() if cuda else 0
        engine = TransformersEngine(model, _Tokenizer(), static_cache=mode != "dynamic", compile=captured and cuda,
                                    capture=capture if captured else "torch_compile", batch_size=rows,
                                    release_cache=release)
        if args.finish:
            engine.eos_ids = list(range(10, 10 + args.finish))
        times = []
        for _ in range(2):  # the first call captures / compiles
            if cuda:
                torch.cuda.synchronize()
            start = time.perf_counter()
            out = engine.generate_ids(prompts, params)
            engine.finish_generation()
            if cuda:
                torch.cuda.synchronize()
            times.append(time.perf_counter() - start)
        ids = [c.completion_ids for c in out]
        reference = reference or ids
        same = sum(a == b for a, b in zip(ids, reference)) / len(ids)
        results[mode] = {"first_call_s": times[0], "warm_call_s": times[1], "ms_per_step": 1000 * times[1] / tokens,
                         "greedy_rows_equal_to_first_mode": same, "captures": getattr(engine._step, "captures", None),
                         "mean_length": sum(map(len, ids)) / len(ids), "caches": len(engine._caches),
                         "held_gib": ((torch.cuda.memory_allocated() - baseline) / 2**30) if cuda else None,
                         "pool_gib": engine._pool.nbytes() / 2**30}
        del engine, out
        print(mode, json.dumps(results[mode]), flush=True)
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "graph_check.json").write_text(json.dumps({"shape": args.shape, "rows": rows, "tokens": tokens, "prompt": prompt,
                                                           "device": torch.cuda.get_device_name() if cuda else "cpu",
                                                           "results": results}, indent=2))


if __name__ == "__main__":
    main()
