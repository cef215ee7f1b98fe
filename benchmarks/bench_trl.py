"""Time TRL's GRPOTrainer step by step, as the peer row of our benchmarks (gpu_step, realistic_step)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable


def time_trl_steps(config: Any, directory: Path, reward: Callable[..., Any], prompts: list[str], warmup: int,
                   peft_config: Any = None) -> dict:
    """Train `config.max_steps` steps of GRPOTrainer on `prompts`; returns the seconds of each step
    after `warmup` and the peak GPU memory over those steps (the model and tokenizer live in
    directory/model and directory/tokenizer)."""
    import torch
    from datasets import Dataset
    from transformers import AutoTokenizer, TrainerCallback
    from trl import GRPOTrainer

    times: list[float] = []

    class Clock(TrainerCallback):
        def on_step_begin(self, args, state, control, **_):
            if torch.cuda.is_available():
                torch.cuda.synchronize()
            self.started = time.perf_counter()
            if state.global_step == warmup and torch.cuda.is_available():
                torch.cuda.reset_peak_memory_stats()

        def on_step_end(self, args, state, control, **_):
            if torch.cuda.is_available():
                torch.cuda.synchronize()
            times.append(time.perf_counter() - self.started)

    tokenizer = AutoTokenizer.from_pretrained(directory / "tokenizer")
    trainer = GRPOTrainer(model=str(directory / "model"), reward_funcs=[reward], args=config,
                          train_dataset=Dataset.from_list([{"prompt": p} for p in prompts]), processing_class=tokenizer,
                          callbacks=[Clock()], peft_config=peft_config)
    trainer.train()
    peak = torch.cuda.max_memory_allocated() / 2**30 if torch.cuda.is_available() else 0.0
    return {"step_seconds": times[warmup:], "peak_gib": peak}
