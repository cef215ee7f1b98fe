"""verl's GRPO on workload R (benchmarks/realistic_step.py): one GPU, vLLM colocated through verl's
hybrid engine, its settings at the same sizes as the other rows; adds a `verl-vllm` row to the
table realistic_step.py wrote in --out (or starts one).

verl 0.9.1 pins transformers < 5.11 and the device image has 5.17, so the row runs with verl's
own wheels first on PYTHONPATH (benchmarks/verl_fetch.sh makes .verl); vLLM comes from
benchmarks/device_setup.sh. The workload build and verl's start-up (Ray, its workers, its vLLM
server's compile) took 5.9 minutes on an H100 on 2026-12-06, so build the workload in one device
call and run the row in the next:

    source benchmarks/device_setup.sh && source benchmarks/verl_setup.sh
    python3 benchmarks/verl_row.py --out $OUT/r --prepare-only          # first call
    python3 benchmarks/verl_row.py --out $OUT/r --steps 3 --warmup 1    # next call, same machine

With the workload built, verl was ready to train 4.3 minutes after the driver's start, and its
steps took 107-144 s on an H100 (2026-12-06): a 10-minute call measures two steps.
`--setting tuned` runs it as a verl user would at mu = 1 in pure bf16 (see SETTINGS).

Same workload as the other rows: the Qwen2.5-1.5B-shaped checkpoint with 127 scaled stop rows
(read by vLLM from its generation_config), 32 prompts x 16 samples of 256 prompt tokens, at most
1,024 completion tokens, temperature 1, lr 1e-6, beta 0, one update per batch (mini-batch = batch),
micro-batch 16, gradient checkpointing, vLLM at 0.35 of the GPU, the same length-recording reward.
Differences it cannot remove: verl has no min_tokens (the other rows ask for at least 64), and its
padding-free path (`use_remove_padding`) needs flash-attn, so it is on only where flash-attn imports
(elsewhere verl's model attention is SDPA, as ours and TRL's).
If verl does not start or fails, the row says so and the log's last lines are printed: that is
the issue's "exact error and what it would need".
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.device_memory import DevicePeak  # noqa: E402
from benchmarks.gpu_idle import release_driver_gpu  # noqa: E402
from benchmarks.realistic_step import (  # noqa: E402
    GROUP, MAX_TOKENS, PROMPT_TOKENS, PROMPTS, build_workload, histogram, report, versions,
)
from benchmarks.row_process import run_isolated  # noqa: E402

# "default": verl's GRPO example settings at workload R's sizes. "tuned": what a verl user would turn
# on at mu = 1 and pure bf16, to match the other rows: bf16 weights and optimizer state (verl's FSDP
# actor keeps fp32 by default; every other row is pure bf16), the sampler's log-probs as the old
# policy's (bypass mode: no recomputation pass, as ours and TRL's at mu = 1), and verl's fused
# log-prob kernels (no full-vocabulary logits in the update).
SETTINGS = {
    "default": [],
    "tuned": ["actor_rollout_ref.actor.fsdp_config.model_dtype=bf16", "algorithm.rollout_correction.bypass_mode=True",
              "actor_rollout_ref.rollout.calculate_log_probs=True", "actor_rollout_ref.model.use_fused_kernels=True"],
}
ROWS = {"default": "verl-vllm", "tuned": "verl-vllm-tuned"}
CHAT_TEMPLATE = "{% for message in messages %}{{ message['content'] }}{% endfor %}"  # the prompt, unchanged


def prepare(directory: Path) -> tuple[Path, Path]:
    """verl's inputs: a parquet of chat-format prompts and the workload's tokenizer with a chat
    template that renders a prompt as itself (verl always applies one)."""
    import pandas as pd
    from transformers import AutoTokenizer

    prompts = [json.loads(line)["prompt"] for line in (directory / "prompts.jsonl").read_text().splitlines()]
    frame = pd.DataFrame([{"data_source": "bench", "prompt": [{"role": "user", "content": text}],
                           "reward_model": {"style": "rule", "ground_truth": ""}, "extra_info": {"index": i}}
                          for i, text in enumerate(prompts)])
    data = directory / "verl_train.parquet"
    frame.to_parquet(data)
    tokenizer = chat_tokenizer(AutoTokenizer.from_pretrained(directory / "tokenizer"))
    tokenizer.save_pretrained(directory / "tokenizer_chat")
    return data, directory / "tokenizer_chat"


def chat_tokenizer(tokenizer):
    """The workload's word-level tokenizer as verl 0.9.1 needs it for a model of type qwen2: its
    agent loop's Qwen token builder requires "\n" to encode as one token and a "<|im_end|>" token.
    Both take ids 1 and 2, words no prompt holds (prompts draw ids from 10 up), so vocabulary size,
    prompts and the model stay the same as for the other rows."""
    from tokenizers import AddedToken, Tokenizer
    from transformers import PreTrainedTokenizerFast

    state = json.loads(tokenizer.backend_tokenizer.to_str())
    vocab = state["model"]["vocab"]
    for word, index in (("\n", 1), ("<|im_end|>", 2)):
        vocab.pop(f"t{index}")
        vocab[word] = index
    backend = Tokenizer.from_str(json.dumps(state))
    backend.add_tokens([AddedToken("\n", normalized=False, special=False)])
    chat = PreTrainedTokenizerFast(tokenizer_object=backend, eos_token=tokenizer.eos_token, pad_token=tokenizer.pad_token,
                                   additional_special_tokens=["<|im_end|>"])
    chat.chat_template = CHAT_TEMPLATE
    return chat


def overrides(directory: Path, data: Path, tokenizer: Path, steps: int, setting: str = "default") -> list[str]:
    padding_free = importlib.util.find_spec("flash_attn") is not None
    return [
        "algorithm.adv_estimator=grpo", "algorithm.use_kl_in_reward=False",
        f"data.train_files={data}", f"data.val_files={data}", f"data.train_batch_size={PROMPTS}",
        f"data.max_prompt_length={PROMPT_TOKENS}", f"data.max_response_length={MAX_TOKENS}",
        "data.filter_overlong_prompts=False", "data.truncation=left", "data.dataloader_num_workers=0",
        f"actor_rollout_ref.model.path={directory / 'model'}", f"actor_rollout_ref.model.tokenizer_path={tokenizer}",
        "actor_rollout_ref.model.enable_gradient_checkpointing=True",
        f"actor_rollout_ref.model.use_remove_padding={padding_free}",
        "actor_rollout_ref.actor.optim.lr=1e-6", f"actor_rollout_ref.actor.ppo_mini_batch_size={PROMPTS}",
        f"actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu={GROUP}", "actor_rollout_ref.actor.use_kl_loss=False",
        "actor_rollout_ref.actor.entropy_coeff=0", "actor_rollout_ref.actor.ppo_epochs=1",
        "actor_rollout_ref.rollout.name=vllm", f"actor_rollout_ref.rollout.n={GROUP}",
        "actor_rollout_ref.rollout.temperature=1.0", "actor_rollout_ref.rollout.tensor_model_parallel_size=1",
        "actor_rollout_ref.rollout.gpu_memory_utilization=0.35",
        f"actor_rollout_ref.rollout.log_prob_micro_batch_size_per_gpu={GROUP}",
        f"actor_rollout_ref.ref.log_prob_micro_batch_size_per_gpu={GROUP}",
        f"reward.custom_reward_function.path={ROOT / 'benchmarks' / 'bench_rewards.py'}",
        "reward.custom_reward_function.name=verl_length_score",
        "trainer.n_gpus_per_node=1", "trainer.nnodes=1", "trainer.logger=[console]", "trainer.val_before_train=False",
        "trainer.test_freq=-1", "trainer.save_freq=-1", f"trainer.total_training_steps={steps}",
        "trainer.project_name=grpo-bench", "trainer.experiment_name=verl-vllm",
        f"trainer.default_local_dir={directory / 'verl-checkpoints'}",
        # verl 0.9.1 loads the actor and reference with flash_attention_2 unless the model's
        # override_config names another (verl/workers/config/model.py); SDPA where flash-attn is absent
        *([] if padding_free else ["+actor_rollout_ref.model.override_config.attn_implementation=sdpa"]),
        *SETTINGS[setting],
    ]


def parse_steps(log: str) -> list[dict[str, float]]:
    """verl's console logger: one `step:N - key:value - ...` line per step."""
    steps = []
    for line in log.splitlines():
        match = re.search(r"step:(\d+) - (.*)$", line)
        if not match:
            continue
        values = {"step": float(match.group(1))}
        for item in match.group(2).split(" - "):
            key, _, value = item.rpartition(":")
            try:
                values[key] = float(value)
            except ValueError:
                pass
        steps.append(values)
    return steps


def summarize(steps: list[dict[str, float]], warmup: int, lengths: list[int], per_step: int) -> dict:
    """The row from verl's step lines. `lengths`: every completion's length in the order the reward
    saw them, `per_step` to a step; the measured steps' lengths are those after the warm-up's and up
    to the last step that finished (a call's time limit can stop verl inside a step that has already
    been scored)."""
    timed = [m for m in steps if "timing_s/step" in m]
    rows = timed[warmup:]
    if not rows:
        raise ValueError("no measured step in verl's log")
    median = lambda key: statistics.median(m.get(key, 0.0) for m in rows)  # noqa: E731
    # verl 0.9.1 logs the actor's allocator peak as actor/perf/...; earlier releases as perf/...
    peak = max(m.get("actor/perf/max_memory_allocated_gb", m.get("perf/max_memory_allocated_gb", 0.0)) for m in rows)
    measured = lengths[warmup * per_step: len(timed) * per_step]
    return {"step_seconds": [m["timing_s/step"] for m in rows], "peak_gib": peak,
            "split": {"time/generate": median("timing_s/gen"),
                      "time/train": median("timing_s/update_actor") + median("timing_s/old_log_prob"),
                      "time/sync": median("timing_s/update_weights")},
            "lengths": histogram(measured or lengths)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default="bench-r")
    parser.add_argument("--workdir", default="/tmp/grpo-bench-r")
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=540)
    parser.add_argument("--setting", choices=sorted(SETTINGS), default="default",
                        help="verl's example settings, or those tuned as the other rows are (see SETTINGS)")
    parser.add_argument("--prepare-only", action="store_true",
                        help="build the workload and verl's inputs, then stop: building them and starting verl took "
                             "5.9 minutes on an H100 (2026-12-06), so the row needs a device call of its own")
    args = parser.parse_args()
    directory, out = Path(args.workdir), Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    build_workload(directory, tiny=False)
    if args.prepare_only:
        prepare(directory)
        return
    release_driver_gpu()  # verl's Ray workers start with the whole GPU free
    data, tokenizer = prepare(directory)
    row = ROWS[args.setting]
    lengths_file = out / f"{row}.lengths"
    lengths_file.unlink(missing_ok=True)
    command = [sys.executable, "-m", "verl.trainer.main_ppo", *overrides(directory, data, tokenizer, args.steps, args.setting)]
    (out / f"{row}.command").write_text(" ".join(command) + "\n")
    started = time.time()
    with open(out / f"{row}.log", "w") as log, DevicePeak() as device:
        code = run_isolated(command, log, cwd=ROOT, timeout=args.timeout,
                            env={**os.environ, "GRPO_BENCH_LENGTHS": str(lengths_file)})
    text = (out / f"{row}.log").read_text(errors="replace")
    lengths = [int(x) for x in lengths_file.read_text().split()] if lengths_file.exists() else []
    try:
        result = summarize(parse_steps(text), args.warmup, lengths, PROMPTS * GROUP)
        if code != 0:
            result["note"] = f"exit {code} after its steps"
    except ValueError:
        result = {"error": f"exit {code}, see {row}.log"}
        print("\n".join(text.splitlines()[-40:]))
    result["device_peak_gib"] = device.peaks_gib  # verl's own figure is torch's allocated count
    result["versions"] = versions(("verl", "vllm"))  # transformers: verl's own, first on this path
    print(f"{row}: done in {time.time() - started:.0f} s", flush=True)
    (out / f"{row}.json").write_text(json.dumps(result, indent=2))
    table = out / "realistic_step.json"
    merged = json.loads(table.read_text()) if table.exists() else {"results": {}}
    merged["results"][row] = result
    table.write_text(json.dumps(merged, indent=2))
    (out / "realistic_step.md").write_text(report(merged["results"]) + "\n")
    print((out / "realistic_step.md").read_text())


if __name__ == "__main__":
    main()
