"""Build the engine a recipe names, colocated with the trainer's module or in its own actor."""

from __future__ import annotations

import importlib.util
from typing import Any

import torch

from grpo.config import Recipe
from grpo.rollout.base import ENGINES, Engine, engine_names, register_engine


def build_engine(recipe: Recipe, tokenizer: Any, *, model: torch.nn.Module | None, colocated: bool) -> Engine:
    """colocated: `model` is the trained module (the transformers engine generates with it; vLLM
    reloads its weights from it). Separate: `model` is the actor's own copy (transformers) or None
    (vLLM loads the checkpoint itself and receives updates over NCCL)."""
    engine_names()  # imports the built-in engines, which registers them
    return ENGINES[recipe.rollout.engine](recipe, tokenizer, model=model, colocated=colocated)


def concrete_engine(recipe: Recipe, gpus: float) -> str:
    """What `rollout.engine: auto` means where the run happens: vLLM when the cluster has GPUs
    for the trainer and vLLM is installed, the transformers engine otherwise."""
    if recipe.rollout.engine != "auto":
        return recipe.rollout.engine
    on_gpu = gpus > 0 and recipe.trainer.device != "cpu"
    return "vllm" if on_gpu and importlib.util.find_spec("vllm") is not None else "transformers"


def with_concrete_engine(recipe: Recipe, gpus: float) -> Recipe:
    engine = concrete_engine(recipe, gpus)
    if engine == recipe.rollout.engine:
        return recipe
    return recipe.model_copy(update={"rollout": recipe.rollout.model_copy(update={"engine": engine})})


@register_engine("auto")
def build_auto_engine(recipe: Recipe, tokenizer: Any, *, model: torch.nn.Module | None, colocated: bool) -> Engine:
    """Resolved inside the actor when the driver did not resolve it (it normally does)."""
    concrete = with_concrete_engine(recipe, float(torch.cuda.device_count()))
    return build_engine(concrete, tokenizer, model=model, colocated=colocated)
