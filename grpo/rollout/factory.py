"""Build the engine a recipe names, colocated with the trainer's module or in its own actor."""

from __future__ import annotations

from typing import Any

import torch

from grpo.config import Recipe

VLLM_WORKER_EXTENSION = "grpo.rollout.vllm_worker.GRPOWorkerExtension"


def build_engine(recipe: Recipe, tokenizer: Any, *, model: torch.nn.Module | None, colocated: bool) -> Any:
    """colocated: `model` is the trained module (the transformers engine generates with it; vLLM
    reloads its weights from it). Separate: `model` is the actor's own copy (transformers) or None
    (vLLM loads the checkpoint itself and receives updates over NCCL)."""
    r = recipe.rollout
    if r.engine == "transformers":
        import grpo.rollout.hf_engine  # noqa: F401  registers the engine
        from grpo.rollout.base import ENGINES

        if model is None:
            raise ValueError("the transformers engine generates with a module; pass model=")
        return ENGINES["transformers"](model, tokenizer, max_prompt_tokens=r.max_prompt_tokens, compile=r.compile)
    from grpo.policy import resolve_dtype
    from grpo.rollout.vllm_engine import VLLMEngine
    from grpo.rollout.weight_sync import engine_weights

    lora = recipe.model.lora
    dtype = resolve_dtype(recipe.model.dtype, torch.device("cuda"))
    source = None
    if colocated and model is not None:
        # with LoRA the engine applies the adapter itself: it only ever needs the frozen base weights
        source = lambda: engine_weights(model, merge_lora=not lora.enabled)  # noqa: E731
    return VLLMEngine(
        recipe.model.path, tokenizer, tokenizer_path=recipe.model.tokenizer, dtype=str(dtype).removeprefix("torch."),
        max_prompt_tokens=r.max_prompt_tokens, max_completion_tokens=r.max_completion_tokens,
        gpu_memory_utilization=r.vllm.gpu_memory_utilization, enforce_eager=not r.compile,
        sleep=colocated and r.vllm.sleep, seed=recipe.seed, lora_rank=lora.r if lora.enabled else 0,
        weight_source=source, worker_extension=None if colocated else VLLM_WORKER_EXTENSION,
        trust_remote_code=recipe.model.trust_remote_code,
    )
