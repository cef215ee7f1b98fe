"""The rollout worker: an engine with its own copy of the policy, hosted in a Ray actor.

Used when rollout.colocate is false: generation runs apart from training (other cores, other
GPUs or other nodes) and receives the trainer's weights after every update.
"""

from __future__ import annotations

import torch

from grpo.config import Recipe
from grpo.policy import load_model, load_tokenizer, resolve_device
from grpo.rollout.base import ENGINES, Completion, SamplingParams


class RolloutWorker:
    def __init__(self, recipe: Recipe, threads: int | None = None):
        if threads:
            torch.set_num_threads(threads)
        from grpo.learner import quiet_transformers

        quiet_transformers()
        import grpo.rollout.hf_engine  # noqa: F401  registers the engine

        device = resolve_device(recipe.trainer.device)
        model_config = recipe.model.model_copy(update={"lora": recipe.model.lora.model_copy(update={"enabled": False})})
        self.model = load_model(model_config, device, trainable=False)
        self.tokenizer = load_tokenizer(recipe.model)
        self.engine = ENGINES[recipe.rollout.engine](
            self.model, self.tokenizer, max_prompt_tokens=recipe.rollout.max_prompt_tokens, compile=recipe.rollout.compile
        )

    def generate(self, prompts: list[str], params: SamplingParams) -> list[Completion]:
        return self.engine.generate(prompts, params)

    def load_weights(self, state: dict[str, torch.Tensor]) -> None:
        self.engine.load_weights(state)
