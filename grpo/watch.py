"""Signals during training that a run is going nowhere, said once and in one line.

A run that never earns the correctness reward usually reads the wrong column, uses the wrong
template or is too hard for its base (TRL #3452, open-r1 #405): after `rewards.warn_after_steps`
steps without one correct sample it says so and points at `grpo check`. Updates skipped for a
non-finite loss are counted; several steps in a row with nothing but skipped updates stop the run
before the weights or a checkpoint can be damaged.
"""

from __future__ import annotations

import sys

from grpo.config import RecipeError

MAX_SKIPPED_STEPS = 3


class TrainingStopped(RecipeError):
    """The run cannot usefully continue; the message names the step and what to change."""


class RunWatch:
    def __init__(self, warn_after_steps: int, correctness: str):
        self.warn_after_steps = warn_after_steps
        self.correctness = correctness
        self.steps_without_correct = 0
        self.warned = False
        self.skipped_streak = 0

    def after_step(self, step: int, metrics: dict[str, float]) -> None:
        """`step`: steps completed. Raises TrainingStopped; warns on stderr."""
        skipped = metrics.get("train/skipped_updates", 0.0)
        if skipped:
            self.skipped_streak = self.skipped_streak + 1 if metrics.get("train/all_skipped") else 0
            print(f"warning: step {step}: {skipped:.0f} update(s) skipped, their loss or gradient was NaN or inf "
                  "(train/skipped_updates)", file=sys.stderr, flush=True)
            if self.skipped_streak >= MAX_SKIPPED_STEPS:
                raise TrainingStopped(
                    f"step {step}: every update of the last {self.skipped_streak} steps had a NaN or infinite loss or "
                    "gradient; the run stops before the weights are damaged. Lower trainer.learning_rate, check the "
                    "rewards (reward/<verifier>/failures), or resume from the last checkpoint with --resume"
                )
        else:
            self.skipped_streak = 0
        if metrics.get("accuracy", 0.0) > 0:
            self.steps_without_correct = 0
            return
        self.steps_without_correct += 1
        if not self.warned and self.warn_after_steps and self.steps_without_correct >= self.warn_after_steps:
            self.warned = True
            print(f"warning: no sample has earned the correctness reward ({self.correctness}) in {self.steps_without_correct} "
                  "steps: the data may lack what the verifier reads (data.answer_column), the template may not be "
                  "what the model expects, or the task is too hard for this base; run `grpo check RECIPE` to see",
                  file=sys.stderr, flush=True)
