"""Where one decode step of the transformers engine spends its time at workload R's shape, with
grpo.decode_attention (the engine's default) and with transformers' own SDPA function.

Captured as a CUDA graph the 1.5B decode step took 57.5 ms at 512 rows, as long as eager (58.6 ms;
benchmarks/graph_check.py): launches are not what binds it. This times one static-cache decode step
(1,280-token cache, 256 prompt tokens written, left padding) per SDPA backend, replays it from a
CUDA graph, and lists the kernels that take the step's GPU time.

    python benchmarks/decode_kernels.py --out $OUT/decode-kernels     # GPU
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.realistic_step import QWEN_15B  # noqa: E402
from benchmarks.graph_check import STUDY, _Tokenizer  # noqa: E402
from grpo import decode_attention  # noqa: E402
from grpo.rollout.hf_engine import TransformersEngine  # noqa: E402


def cuda_ms(fn, repeats: int = 10) -> float:
    fn()
    torch.cuda.synchronize()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(repeats):
        fn()
    end.record()
    torch.cuda.synchronize()
    return start.elapsed_time(end) / repeats


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default="bench-decode-kernels")
    parser.add_argument("--rows", type=int, default=512)
    parser.add_argument("--shape", choices=["1.5b", "study"], default="1.5b")
    args = parser.parse_args()
    from torch.nn.attention import SDPBackend, sdpa_kernel
    from transformers import Qwen2Config, Qwen2ForCausalLM

    dims = {"1.5b": QWEN_15B, "study": STUDY}[args.shape]
    torch.manual_seed(0)
    with torch.device("cuda"):
        model = Qwen2ForCausalLM(Qwen2Config(**dims, attn_implementation="sdpa")).to(torch.bfloat16).eval()
    engine = TransformersEngine(model, _Tokenizer(), static_cache=True, compile=False, batch_size=args.rows)
    rows = [(i, torch.randint(10, 500, (256 - i % 7,)).tolist()) for i in range(args.rows)]
    input_ids, mask = engine._left_pad(rows)
    results: dict[str, float | str] = {}
    with torch.inference_mode():
        state = engine._prefill(input_ids, mask, 1024)
        state.attention_mask[:, state.width] = 1
        state.cache_position.fill_(state.width)
        tokens = state.logits.argmax(-1)[:, None]
        step = lambda: engine._decode(tokens, state.next_position, state.cache_position, state.attention_mask, state.cache)  # noqa: E731
        reference = step().float()
        # before grpo.decode_attention: transformers' own SDPA function (repeat_kv before 5.23)
        from transformers import AttentionInterface
        from transformers.integrations.sdpa_attention import sdpa_attention_forward

        AttentionInterface.register("sdpa", sdpa_attention_forward)
        results["eager_ms_transformers_sdpa"] = cuda_ms(step)
        results["max_abs_logit_gap_transformers_sdpa"] = float((step().float() - reference).abs().max())
        decode_attention.install()
        print("transformers' sdpa", results["eager_ms_transformers_sdpa"], flush=True)
        for name, backend in [("default", None), ("efficient", SDPBackend.EFFICIENT_ATTENTION),
                              ("cudnn", SDPBackend.CUDNN_ATTENTION), ("math", SDPBackend.MATH)]:
            try:
                if backend is None:
                    results[f"eager_ms_{name}"] = cuda_ms(step)
                    continue
                with sdpa_kernel([backend]):
                    results[f"eager_ms_{name}"] = cuda_ms(step)
                    results[f"max_abs_logit_gap_{name}"] = float((step().float() - reference).abs().max())
            except Exception as err:  # noqa: BLE001 - a backend that refuses this shape is a result
                results[f"eager_ms_{name}"] = f"{type(err).__name__}: {str(err)[:200]}"
            print(name, results.get(f"eager_ms_{name}"), flush=True)
        # the same step replayed from a CUDA graph: what is left when launches are gone
        stream = torch.cuda.Stream()
        stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(stream):
            for _ in range(2):
                step()
        torch.cuda.current_stream().wait_stream(stream)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            graphed = step()
        graph.replay()
        torch.cuda.synchronize()
        results["graph_ms"] = cuda_ms(graph.replay)
        results["graph_max_abs_logit_gap"] = float((graphed.float() - reference).abs().max())
        results["graph_argmax_equal"] = float((graphed.argmax(-1) == reference.argmax(-1)).float().mean())
        wall = time.perf_counter()
        for _ in range(10):
            step()
        torch.cuda.synchronize()
        results["eager_wall_ms"] = (time.perf_counter() - wall) * 100
        with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU, torch.profiler.ProfilerActivity.CUDA]) as prof:
            for _ in range(3):
                step()
            torch.cuda.synchronize()
        table = prof.key_averages().table(sort_by="cuda_time_total", row_limit=18, max_name_column_width=70)
    print(json.dumps(results, indent=1))
    print(table)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"decode_kernels_{args.shape}.json").write_text(json.dumps({"rows": args.rows, "device": torch.cuda.get_device_name(),
                                                                       "results": results}, indent=2))
    (out / f"decode_kernels_{args.shape}.txt").write_text(table)


if __name__ == "__main__":
    main()
