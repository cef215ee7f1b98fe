"""What a learner writes into a checkpoint and reads back, one learner or a sharded group.

Every checkpoint holds `model/`, a full Hugging Face checkpoint (LoRA merged in) anyone can load,
and `learner_state.pt` (schedule, RNG). One learner also writes the optimizer there (and
`adapter/` with LoRA, which resume restores). A sharded group writes its model and optimizer
shards with torch.distributed.checkpoint into `dcp/` (each rank its own files, in parallel) and
resumes from them on the same world size; `model/` is gathered for the export.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from grpo.distributed import full
from grpo.policy import export_weights, serving_state, unwrap
from grpo.rollout.packed_weights import PackedWeights, cast_dtype

if TYPE_CHECKING:
    from grpo.learner import Learner


def full_weights(learner: "Learner", dtype: torch.dtype | None = None) -> dict[str, torch.Tensor] | None:
    """The full weights on the host, LoRA merged in, floating tensors cast to `dtype` when given.
    Sharded: every rank takes part in gathering, one parameter at a time (so no GPU holds more
    than one full parameter beyond its shard), cast before it leaves the GPU (a 7B model's fp32
    master weights are 30 GB; what an engine serves in bf16 is half that); rank 0 gets them, the
    others None."""
    if learner.world_size == 1:
        state = export_weights(learner.model)
        return state if dtype is None else {name: _cast(tensor, dtype) for name, tensor in state.items()}
    gathered: dict[str, torch.Tensor] = {}
    for name, tensor in learner.model.state_dict().items():
        whole = full(tensor.detach())
        if learner.rank == 0:
            gathered[name] = _cast(whole, dtype).to("cpu", copy=True)
        del whole
    return gathered if learner.rank == 0 else None


def packed_weights(learner: "Learner", dtype: torch.dtype | None = None) -> PackedWeights | None:
    """As full_weights, but packed into one flat host buffer that Ray moves without pickling
    (grpo/rollout/packed_weights.py): each tensor is gathered (sharded), cast on its GPU and copied
    straight into its slice. Rank 0 gets it, the others None."""
    state = serving_state(learner.model) if learner.world_size == 1 else learner.model.state_dict()
    packed = None
    if learner.rank == 0:
        packed = PackedWeights.allocate((name, cast_dtype(t, dtype), tuple(t.shape)) for name, t in state.items())
    for name, tensor in state.items():
        whole = full(tensor.detach())
        if packed is not None:
            packed.view(name).copy_(whole.to(cast_dtype(whole, dtype)))
        del whole
    return packed


def _cast(tensor: torch.Tensor, dtype: torch.dtype | None) -> torch.Tensor:
    return tensor.to(dtype) if dtype is not None and tensor.is_floating_point() else tensor


def check_finite(learner: "Learner") -> None:
    for name, param in learner.model.named_parameters():
        local = param.to_local() if hasattr(param, "to_local") else param
        if not torch.isfinite(local).all():
            raise ValueError(f"refusing to save non-finite weights (parameter {name} holds NaN or inf)")


def save(learner: "Learner", path: Path) -> None:
    check_finite(learner)
    path.mkdir(parents=True, exist_ok=True)
    if learner.world_size > 1:
        _save_sharded(learner, path)
    else:
        _save_model(learner, path)
        torch.save(_host_state(learner) | {"optimizer": learner.optimizer.state_dict()}, path / "learner_state.pt")


def _save_model(learner: "Learner", path: Path) -> None:
    base = unwrap(learner.model)
    if base is not learner.model:
        learner.model.save_pretrained(path / "adapter", safe_serialization=True)
        base.save_pretrained(path / "model", state_dict=export_weights(learner.model), safe_serialization=True)
        # save_pretrained of a PEFT-injected module writes an adapter config beside the weights
        for stray in ("adapter_config.json", "adapter_model.safetensors"):
            (path / "model" / stray).unlink(missing_ok=True)
    else:
        learner.model.save_pretrained(path / "model", safe_serialization=True)
    learner.tokenizer.save_pretrained(path / "model")


def _save_sharded(learner: "Learner", path: Path) -> None:
    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint.state_dict import get_state_dict

    model_state, optimizer_state = get_state_dict(learner.model, learner.optimizer)
    dcp.save({"model": model_state, "optimizer": optimizer_state}, checkpoint_id=str(path / "dcp"))
    dtype = {"bfloat16": torch.bfloat16, "float16": torch.float16}.get(learner.recipe.model.dtype)
    if dtype is None and learner.device.type == "cuda":
        dtype = torch.bfloat16  # the export is what generation loads: the compute precision
    weights = full_weights(learner, dtype)  # a collective: every rank gathers, rank 0 writes
    if learner.rank == 0:
        config = learner.model.config
        from transformers import AutoModelForCausalLM

        with torch.device("meta"):
            shell = AutoModelForCausalLM.from_config(config)
        shell.save_pretrained(path / "model", state_dict=weights, safe_serialization=True)
        learner.tokenizer.save_pretrained(path / "model")
        torch.save(_host_state(learner), path / "learner_state.pt")


def _host_state(learner: "Learner") -> dict:
    return {"scheduler": learner.scheduler.state_dict(), "torch_rng": torch.get_rng_state(),
            "python_rng": random.getstate(), "numpy_rng": np.random.get_state()}


def load(learner: "Learner", path: Path) -> None:
    if learner.world_size > 1:
        _load_sharded(learner, path)
    else:
        _load_model(learner, path)
    saved = torch.load(path / "learner_state.pt", weights_only=False)
    if learner.world_size == 1:
        learner.optimizer.load_state_dict(saved["optimizer"])
    learner.scheduler.load_state_dict(saved["scheduler"])
    torch.set_rng_state(saved["torch_rng"])
    random.setstate(saved["python_rng"])
    np.random.set_state(saved["numpy_rng"])


def _load_model(learner: "Learner", path: Path) -> None:
    from safetensors.torch import load_file

    if learner.recipe.model.lora.enabled:
        from peft import set_peft_model_state_dict

        set_peft_model_state_dict(learner.model, load_file(str(path / "adapter" / "adapter_model.safetensors")))
        return
    state = {}
    for shard in sorted((path / "model").glob("*.safetensors")):
        state.update(load_file(str(shard)))
    missing, unexpected = unwrap(learner.model).load_state_dict(state, strict=False)
    missing = [m for m in missing if not m.endswith("lm_head.weight")]
    if missing or unexpected:
        raise RuntimeError(f"checkpoint {path / 'model'} does not match the model: missing {missing[:3]}, "
                           f"unexpected {unexpected[:3]}")


def _load_sharded(learner: "Learner", path: Path) -> None:
    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint.state_dict import get_state_dict, set_state_dict

    if not (path / "dcp").is_dir():
        raise RuntimeError(f"{path} has no sharded state (dcp/): it was written by a single learner; resume it with "
                           "trainer.world_size=1")
    model_state, optimizer_state = get_state_dict(learner.model, learner.optimizer)
    state = {"model": model_state, "optimizer": optimizer_state}
    dcp.load(state, checkpoint_id=str(path / "dcp"))
    set_state_dict(learner.model, learner.optimizer, model_state_dict=state["model"], optim_state_dict=state["optimizer"])
