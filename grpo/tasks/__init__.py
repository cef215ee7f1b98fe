"""Built-in task generators: datasets that need no download, deterministic by seed.

Every task splits its problem space by a stable hash of the problem text, so the train and test
splits are disjoint whatever seed or size is asked for (a test problem can never leak into
training, nor into a pre-training corpus built from the train split).
"""

from __future__ import annotations

from typing import Any, Callable

from grpo.tasks.arithmetic import generate_arithmetic
from grpo.tasks.countdown import generate_countdown
from grpo.tasks.procedural import generate_reasoning_gym

TaskGenerator = Callable[..., list[dict[str, Any]]]

TASKS: dict[str, TaskGenerator] = {
    "arithmetic": generate_arithmetic,
    "countdown": generate_countdown,
    "reasoning_gym": generate_reasoning_gym,  # optional extra: reasoning-gym's procedural datasets
}

__all__ = ["TASKS", "generate_arithmetic", "generate_countdown"]
