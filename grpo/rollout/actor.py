"""The rollout worker: an engine with its own copy of the policy, hosted in a Ray actor.

Used when rollout.colocate is false: generation runs apart from training (other cores, other
GPUs or other nodes) and receives the trainer's weights after every update.
"""

from __future__ import annotations

import torch

from grpo.config import Recipe
from grpo.policy import load_model, load_tokenizer, resolve_device
from grpo.envs.episode import build_runner, sample
from grpo.rollout.base import Completion, SamplingParams
from grpo.rollout.packed_weights import PackedWeights


class StaleWeights(RuntimeError):
    """The worker's weights are not the trainer's latest (it was restarted after dying)."""


class RolloutWorker:
    def __init__(self, recipe: Recipe, threads: int | None = None):
        # which weights it holds: 0 is the checkpoint it loaded; the driver counts its syncs, so a
        # worker Ray restarted after a crash (back at 0) is caught before it samples a step
        self.version = 0
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
        self.episodes = build_runner(recipe.env, self.tokenizer)

    def node_id(self) -> str:
        import ray

        return ray.get_runtime_context().get_node_id()

    def gpu_identity(self) -> tuple[str, list[str]]:
        from grpo.cluster import gpu_identity

        return gpu_identity()

    def generate(self, prompts: list[str], params: SamplingParams, version: int | None = None,
                 rows: list[dict] | None = None) -> list[Completion]:
        """`rows`: the prompts' dataset rows, which a multi-turn environment starts from."""
        if version is not None and version != self.version:
            raise StaleWeights(f"rollout worker holds weights version {self.version}, the trainer is at {version}")
        completions = sample(self.engine, self.episodes, prompts, rows, params)
        for completion in completions:  # what asynchronous rollouts measure their staleness by
            completion.extra["weights_version"] = self.version
        return completions

    def load_weights(self, state: "dict[str, torch.Tensor] | PackedWeights", version: int | None = None) -> None:
        """`state`: a learner's packed weights (read from Ray's shared memory without a copy) or a dict."""
        self.engine.load_weights(state.tensors() if isinstance(state, PackedWeights) else state)
        self.version = self.version + 1 if version is None else version

    # vLLM only: the NCCL weight sync (grpo/rollout/vllm_worker.py)
    def join_sync_group(self, address: str, port: int, rank: int, world_size: int) -> None:
        self.engine.join_sync_group(address, port, rank, world_size)

    def receive_weights(self, plan: list, version: int | None = None) -> int:
        received = self.engine.receive_broadcast(plan)
        self.version = self.version + 1 if version is None else version
        return received

    def load_adapter(self, state: dict[str, torch.Tensor], config: dict, version: int | None = None) -> None:
        def save(directory: str) -> None:
            import json
            from pathlib import Path

            from safetensors.torch import save_file

            Path(directory).mkdir(parents=True, exist_ok=True)
            save_file(state, f"{directory}/adapter_model.safetensors")
            Path(directory, "adapter_config.json").write_text(json.dumps(config, default=list))

        self.engine.load_adapter(save)
        self.version = self.version + 1 if version is None else version
