"""Where the transformers engine's decode time goes on a GPU: the captured decode step alone, the
sampling alone, and a whole 64 x 256-token generation. Uses the workload of gpu_step.py.

    python benchmarks/decode_profile.py --workdir /tmp/grpo-bench
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from grpo.rollout.base import SamplingParams  # noqa: E402
from grpo.rollout.hf_engine import TransformersEngine  # noqa: E402
from grpo.rollout.sampling import sample_tokens  # noqa: E402


def cuda_time(fn, repeats: int) -> float:
    torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    torch.cuda.synchronize()
    return (time.perf_counter() - start) / repeats


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workdir", default="/tmp/grpo-bench")
    args = parser.parse_args()
    from transformers import AutoModelForCausalLM, AutoTokenizer

    directory = Path(args.workdir)
    model = AutoModelForCausalLM.from_pretrained(directory / "model", dtype=torch.bfloat16).cuda().eval()
    tokenizer = AutoTokenizer.from_pretrained(directory / "tokenizer")
    engine = TransformersEngine(model, tokenizer, compile=True)
    prompts = [line.split('"')[3] for line in (directory / "prompts.jsonl").read_text().splitlines()[:4]]
    params = SamplingParams(n=16, max_tokens=256, ignore_eos=True, seed=0)
    for _ in range(2):
        engine.generate(prompts, params)  # compile and capture
    whole = [cuda_time(lambda: engine.generate(prompts, params), 1) for _ in range(3)]
    cache = next(iter(engine._caches.values()))
    tokens = torch.randint(0, 1000, (64, 1), device="cuda")
    position = torch.full((64, 1), 100, device="cuda")
    cache_position = torch.tensor([100], device="cuda")
    mask = torch.ones((64, 320), dtype=torch.long, device="cuda")
    with torch.inference_mode():  # the cache's tensors were made under inference mode by generate()
        step = cuda_time(lambda: engine._static_step(tokens, position, cache_position, mask, cache), 200)
        eager = cuda_time(lambda: engine._decode(tokens, position, cache_position, mask, cache), 50)
    logits = torch.randn(64, model.config.vocab_size, device="cuda", dtype=torch.bfloat16)
    generator = torch.Generator(device="cuda").manual_seed(0)
    sampling = cuda_time(lambda: sample_tokens(logits, 1.0, 1.0, generator), 200)
    print(f"whole generate (64 x 256): {statistics.median(whole):.3f} s  -> {1000 * statistics.median(whole) / 256:.2f} ms per token step")
    print(f"captured decode step:      {1000 * step:.2f} ms")
    print(f"eager decode step:         {1000 * eager:.2f} ms")
    print(f"sampling (64 x vocab):     {1000 * sampling:.2f} ms")


if __name__ == "__main__":
    main()
