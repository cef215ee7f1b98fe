"""Scale-out runs on a machine with 2 GPUs (docs/scale.md), each in its own process, one table.

    python benchmarks/scale.py --out results/ --only fsdp-7b,learners-2v1,separate-vllm   # 2 GPUs
    python benchmarks/scale.py --tiny --out /tmp/bench-scale --only learners-2v1           # CPU dry run

A row stopped by --row-timeout (e.g. during a 7B run's final checkpoint) still reports the steps it
logged.

- fsdp-7b: the Qwen2.5-7B architecture (random init) whose full training state (fp32 master
  weights + Adam, ~16 bytes x 7.6B parameters = ~122 GB) fits no single GPU, trained for a few GRPO
  steps by 2 FSDP2 learner ranks; the transformers engine generates on a quarter of their GPUs.
  Reported: step time, peak memory per GPU.
- learners-2v1: the 0.5B workload of benchmarks/gpu_step.py with the learner on 2 GPUs vs 1
  (separate transformers rollout worker), step time.
- separate-vllm: 1 learner GPU + 1 vLLM GPU vs both colocated on one GPU: step and sync time.
Needs vLLM for the last row (benchmarks/device_fetch.sh, device_setup.sh).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.row_process import run_isolated  # noqa: E402

QWEN_7B = dict(hidden_size=3584, num_hidden_layers=28, num_attention_heads=28, num_key_value_heads=4,
               intermediate_size=18944, vocab_size=152064, tie_word_embeddings=False, max_position_embeddings=32768,
               rope_theta=1000000.0, rms_norm_eps=1e-6)
QWEN_05B = dict(hidden_size=896, num_hidden_layers=24, num_attention_heads=14, num_key_value_heads=2,
                intermediate_size=4864, vocab_size=151936, tie_word_embeddings=True, max_position_embeddings=32768,
                rope_theta=1000000.0, rms_norm_eps=1e-6)
TINY = dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, intermediate_size=128,
            vocab_size=1000, tie_word_embeddings=True, max_position_embeddings=512)

ROWS = {
    # name: (shape, overrides)
    "fsdp-7b": ("7b", ["trainer.world_size=2", "rollout.colocate=false", "rollout.engine=transformers",
                       "rollout.prompts_per_step=2", "rollout.group_size=8", "rollout.max_completion_tokens=128",
                       "trainer.microbatch_size=4", "rollout.compile=false"]),
    "learners-1": ("0.5b", ["trainer.world_size=1", "rollout.colocate=false", "rollout.engine=transformers"]),
    "learners-2": ("0.5b", ["trainer.world_size=2", "rollout.colocate=false", "rollout.engine=transformers"]),
    "vllm-colocated": ("0.5b", ["rollout.engine=vllm", "rollout.colocate=true"]),
    "vllm-separate": ("0.5b", ["rollout.engine=vllm", "rollout.colocate=false", "rollout.num_workers=1"]),
}
GROUPS = {"fsdp-7b": ["fsdp-7b"], "learners-2v1": ["learners-1", "learners-2"],
          "separate-vllm": ["vllm-colocated", "vllm-separate"]}


def build(directory: Path, shape: str, tiny: bool) -> Path:
    """A random-init checkpoint (bf16 on disk) and a word-level tokenizer over its vocabulary."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

    folder = directory / ("tiny" if tiny else shape)
    if (folder / "config.json").exists():
        return folder
    dims = TINY if tiny else {"7b": QWEN_7B, "0.5b": QWEN_05B}[shape]
    vocab = dims["vocab_size"]
    config = Qwen2Config(**dims, bos_token_id=vocab - 1, eos_token_id=vocab - 1, pad_token_id=vocab - 2)
    with torch.device("cuda" if torch.cuda.is_available() and not tiny else "cpu"):
        torch.manual_seed(0)
        model = Qwen2ForCausalLM(config).to(torch.bfloat16 if not tiny else torch.float32)
    model.save_pretrained(folder)
    del model
    if torch.cuda.is_available():
        torch.cuda.empty_cache()  # this process is the run's driver: it must not sit on 30 GB of GPU 0
    words = {f"t{i}": i for i in range(vocab - 2)} | {"<pad>": vocab - 2, "<eos>": vocab - 1}
    backend = Tokenizer(models.WordLevel(words, unk_token="t0"))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    backend.decoder = decoders.WordPiece(prefix="##", cleanup=False)
    PreTrainedTokenizerFast(tokenizer_object=backend, eos_token="<eos>", pad_token="<pad>").save_pretrained(folder / "tokenizer")
    with open(directory / "prompts.jsonl", "w") as handle:
        for i in range(256):
            handle.write(json.dumps({"prompt": " ".join(f"t{(i * 31 + j) % (vocab - 10) + 5}" for j in range(64))}) + "\n")
    return folder


def run_row(directory: Path, name: str, steps: int, warmup: int, tiny: bool) -> dict:
    from grpo.config import load_recipe
    from grpo.trainer import train

    shape, extra = ROWS[name]
    model = build(directory, shape, tiny)
    overrides = [
        f"model.path={model}", f"model.tokenizer={model / 'tokenizer'}", f"data.train.path={directory / 'prompts.jsonl'}",
        f"output_dir={directory / 'runs'}", "data.template=plain", "rollout.max_prompt_tokens=64",
        "rollout.max_completion_tokens=256", "rollout.ignore_eos=true", f"trainer.steps={steps}", "trainer.learning_rate=1e-6",
        f"trainer.device={'cpu' if tiny else 'cuda'}", "model.gradient_checkpointing=true", "logging.progress=true",
        "logging.samples_per_step=0", "rewards.verifiers=[{name: 'benchmarks/bench_rewards.py:token_reward'}]",
        f"name={name}", *extra,
    ]
    if tiny:
        overrides = [o.replace("rollout.engine=vllm", "rollout.engine=transformers") for o in overrides]
        overrides += ["rollout.max_completion_tokens=8", "trainer.threads=1"]
    recipe = load_recipe(ROOT / "benchmarks" / "gpu_step_recipe.yaml", overrides)
    shutil.rmtree(recipe.run_dir, ignore_errors=True)
    train(recipe)
    return summarize(directory, name, warmup)


def summarize(directory: Path, name: str, warmup: int) -> dict:
    """The measured steps of a row's run, from its metrics file (written step by step, so a row cut
    short during its final checkpoint still has them)."""
    from grpo.logging import read_metrics

    rows = [m for m in read_metrics(directory / "runs" / name) if "time/step" in m][warmup:]
    if not rows:
        raise ValueError(f"{name}: no step after the {warmup} warm-up step(s) was logged")
    return {"step_seconds": [m["time/step"] for m in rows],
            "split": {k: statistics.median(m.get(k, 0.0) for m in rows) for k in ("time/generate", "time/train", "time/sync")},
            "sync_seconds": [m["time/sync"] + m.get("time/engine_sync", 0.0) for m in rows],
            "peak_gib": max(m.get("memory/peak_gib", 0.0) for m in rows),
            "peak_gib_per_rank": [max(m[key] for m in rows) for key in sorted(k for k in rows[0] if k.startswith("memory/peak_gib_rank"))]}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default="bench-scale")
    parser.add_argument("--tiny", action="store_true")
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--only", default="fsdp-7b,learners-2v1,separate-vllm")
    parser.add_argument("--row-timeout", type=float, default=None, help="seconds before a row is stopped")
    parser.add_argument("--run", help=argparse.SUPPRESS)
    parser.add_argument("--workdir", default="/tmp/grpo-bench-scale")
    args = parser.parse_args()
    directory, out = Path(args.workdir), Path(args.out)
    directory.mkdir(parents=True, exist_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    if args.run:
        result = run_row(directory, args.run, args.steps, args.warmup, args.tiny)
        (out / f"{args.run}.json").write_text(json.dumps(result))
        return
    results = {}
    for name in [row for group in args.only.split(",") for row in GROUPS[group]]:
        command = [sys.executable, __file__, "--run", name, "--out", str(out), "--workdir", str(directory),
                   "--steps", str(args.steps), "--warmup", str(args.warmup)] + (["--tiny"] if args.tiny else [])
        started = time.time()
        with open(out / f"{name}.log", "w") as log:
            # its own session, so a stopped row takes its Ray processes (and their GPU memory) with it
            code = run_isolated(command, log, cwd=ROOT, timeout=args.row_timeout)
        if code == 0:
            results[name] = json.loads((out / f"{name}.json").read_text())
        else:  # the steps it logged still count (a 7B row's final checkpoint alone takes minutes)
            try:
                results[name] = summarize(directory, name, args.warmup) | {"note": f"exit {code} after its steps"}
            except (OSError, ValueError):
                results[name] = {"error": f"exit {code}"}
        print(f"{name}: done in {time.time() - started:.0f} s", flush=True)
        write_table(out, results)  # after every row: a device call cut short keeps the rows it finished
    print((out / "scale.md").read_text())


def write_table(out: Path, results: dict) -> None:
    lines = ["| row | median step s | generate / train s | median sync s | peak GiB (learner rank 0) | peak GiB per learner rank |",
             "| --- | --- | --- | --- | --- | --- |"]
    for name, result in results.items():
        if "error" in result:
            lines.append(f"| {name} | {result['error']} | | | | |")
        else:
            ranks = " / ".join(f"{peak:.1f}" for peak in result.get("peak_gib_per_rank", [])) or "-"
            split = result.get("split", {})
            lines.append(f"| {name} | {statistics.median(result['step_seconds']):.2f} | "
                         f"{split.get('time/generate', 0):.1f} / {split.get('time/train', 0):.1f} | "
                         f"{statistics.median(result['sync_seconds']):.3f} | {result['peak_gib']:.1f} | {ranks} |")
    (out / "scale.md").write_text("\n".join(lines) + "\n")
    (out / "scale.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
