"""The rollout worker: an engine with its own copy of the policy, hosted in a Ray actor.

Used when rollout.colocate is false: generation runs apart from training (other cores, other
GPUs or other nodes) and receives the trainer's weights after every update.
"""

from __future__ import annotations

import torch

from grpo.config import Recipe
from grpo.policy import load_model, load_tokenizer, resolve_device
from grpo.rollout.base import Completion, SamplingParams


class RolloutWorker:
    def __init__(self, recipe: Recipe, threads: int | None = None):
        if threads:
            torch.set_num_threads(threads)
        from grpo.learner import quiet_transformers

        quiet_transformers()
        from grpo.rollout.factory import build_engine

        self.tokenizer = load_tokenizer(recipe.model)
        self.model = None
        if recipe.rollout.engine == "transformers":
            device = resolve_device(recipe.trainer.device)
            lora_off = recipe.model.lora.model_copy(update={"enabled": False})
            self.model = load_model(recipe.model.model_copy(update={"lora": lora_off}), device, trainable=False)
        self.engine = build_engine(recipe, self.tokenizer, model=self.model, colocated=False)

    def generate(self, prompts: list[str], params: SamplingParams) -> list[Completion]:
        return self.engine.generate(prompts, params)

    def load_weights(self, state: dict[str, torch.Tensor]) -> None:
        self.engine.load_weights(state)

    # vLLM only: the NCCL weight sync (grpo/rollout/vllm_worker.py)
    def join_sync_group(self, address: str, port: int, rank: int, world_size: int) -> None:
        self.engine.join_sync_group(address, port, rank, world_size)

    def receive_weights(self, plan: list) -> int:
        return self.engine.receive_broadcast(plan)

    def load_adapter(self, state: dict[str, torch.Tensor], config: dict) -> None:
        def save(directory: str) -> None:
            import json
            from pathlib import Path

            from safetensors.torch import save_file

            Path(directory).mkdir(parents=True, exist_ok=True)
            save_file(state, f"{directory}/adapter_model.safetensors")
            Path(directory, "adapter_config.json").write_text(json.dumps(config, default=list))

        self.engine.load_adapter(save)
