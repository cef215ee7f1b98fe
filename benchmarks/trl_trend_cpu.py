"""This project and TRL's GRPOTrainer on the same tiny CPU problem, same settings: do the reward and
loss curves agree in trend? (Evidence that the speed did not come from computing something else.)

    python benchmarks/trl_trend_cpu.py --steps 12 --out docs/trl_trend_cpu.json

Problem: the shipped tiny base model on 3-digit additions with the R1-Zero template; reward =
the `answer` verifier (TRL calls it through a TRL-style wrapper). Shared settings: 8 prompts x 8
generations, temperature 1, 96 completion tokens, lr 5e-5, beta 0, mu 1, token-mean loss with
group-std advantages, eps 0.2, grad clip 1.0, fp32, the same prompts in the same order.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PROMPTS, GROUP, TOKENS, LR = 8, 8, 96, 5e-5


def answer_reward(completions, answer, **kwargs):
    from rewards import Sample, build

    verify = build("answer", {})
    return [r.value for r in verify([Sample("p", c, answer=a) for c, a in zip(completions, answer)])]


def rows(steps: int, prompts: int = PROMPTS) -> list[dict]:
    """The prompts of every step in order (no shuffling on either side)."""
    from grpo.data import R1_ZERO_TEMPLATE
    from grpo.tasks import generate_arithmetic

    return [{"prompt": R1_ZERO_TEMPLATE.format(prompt=r["prompt"]), "answer": r["answer"]}
            for r in generate_arithmetic("train", prompts * steps, seed=11)]


def run_trl(steps: int, workdir: Path, prompts: int = PROMPTS) -> dict:
    from datasets import Dataset
    from transformers import AutoTokenizer, TrainerCallback
    from trl import GRPOConfig, GRPOTrainer

    model = ROOT / "examples" / "tiny_base" / "checkpoint"
    tokenizer = AutoTokenizer.from_pretrained(model)
    stop = [tokenizer.eos_token_id, tokenizer.convert_tokens_to_ids("</answer>")]
    config = GRPOConfig(
        output_dir=str(workdir / "trl"), report_to="none", save_strategy="no", logging_steps=1, use_cpu=True,
        per_device_train_batch_size=16, gradient_accumulation_steps=prompts * GROUP // 16, num_generations=GROUP,
        max_completion_length=TOKENS, temperature=1.0, learning_rate=LR, beta=0.0, num_iterations=1,
        loss_type="dapo", scale_rewards="group", epsilon=0.2, max_grad_norm=1.0, lr_scheduler_type="constant",
        warmup_steps=0, max_steps=steps, seed=0, shuffle_dataset=False, gradient_checkpointing=False,
        # fp32 as ours: TRL's bf16 default autocasts on CPU, 36 s a step on 2 cores
        generation_kwargs={"eos_token_id": stop}, bf16=False,
    )
    history: list[dict] = []

    class Record(TrainerCallback):
        def on_log(self, args, state, control, logs=None, **_):
            if logs and "reward" in logs:
                history.append({"reward": logs["reward"], "loss": logs.get("loss")})

    trainer = GRPOTrainer(model=str(model), reward_funcs=[answer_reward], args=config, processing_class=tokenizer,
                          train_dataset=Dataset.from_list(rows(steps, prompts)), callbacks=[Record()])
    trainer.train()
    return {"reward": [h["reward"] for h in history], "loss": [h["loss"] for h in history]}


def run_ours(steps: int, workdir: Path, prompts: int = PROMPTS) -> dict:
    from grpo.config import load_recipe
    from grpo.logging import read_metrics
    from grpo.trainer import train

    data = workdir / "prompts.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows(steps, prompts)))
    recipe = load_recipe(ROOT / "recipes" / "quickstart.yaml", [
        f"output_dir={workdir}", "name=ours", f"data.train={{path: {data}}}", "data.test=null", "data.template=plain",
        "data.shuffle=false", f"rollout.prompts_per_step={prompts}", f"rollout.group_size={GROUP}",
        f"rollout.max_completion_tokens={TOKENS}", f"trainer.learning_rate={LR}", "trainer.warmup_steps=0",
        f"trainer.steps={steps}", "rewards.verifiers=[{name: answer}]", "logging.progress=false",
    ])
    train(recipe)
    metrics = [m for m in read_metrics(workdir / "ours") if "reward/mean" in m]
    return {"reward": [m["reward/mean"] for m in metrics], "loss": [m["train/loss"] for m in metrics]}


def trend(values: list[float]) -> float:
    """Least-squares slope per step."""
    n = len(values)
    mean_x, mean_y = (n - 1) / 2, sum(values) / n
    return sum((i - mean_x) * (v - mean_y) for i, v in enumerate(values)) / sum((i - mean_x) ** 2 for i in range(n))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="trl-trend-"))
    try:
        results = {"trl": run_trl(args.steps, workdir), "ours": run_ours(args.steps, workdir)}
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    for name, curve in results.items():
        curve["reward_slope"] = trend(curve["reward"])
        print(f"{name:<5} reward " + " ".join(f"{r:.2f}" for r in curve["reward"]) + f"   slope {curve['reward_slope']:+.4f}/step")
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
