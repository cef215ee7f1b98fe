"""Build the engine a recipe names, colocated with the trainer's module or in its own actor."""

from __future__ import annotations

from typing import Any

import torch

from grpo.config import Recipe
from grpo.rollout.base import ENGINES, Engine, engine_names


def build_engine(recipe: Recipe, tokenizer: Any, *, model: torch.nn.Module | None, colocated: bool) -> Engine:
    """colocated: `model` is the trained module (the transformers engine generates with it; vLLM
    reloads its weights from it). Separate: `model` is the actor's own copy (transformers) or None
    (vLLM loads the checkpoint itself and receives updates over NCCL)."""
    engine_names()  # imports the built-in engines, which registers them
    return ENGINES[recipe.rollout.engine](recipe, tokenizer, model=model, colocated=colocated)
