"""The learner group's plumbing: process group, FSDP2 sharding, splitting rows across ranks,
reductions. Nothing here knows about GRPO; grpo/learner.py decides what to compute.

Layout: N learner ranks (Ray actors, one per GPU, or processes on a CPU) form one
torch.distributed group, NCCL on GPUs and gloo on CPUs. The model is sharded with FSDP2: one
`fully_shard` per decoder layer (attention, dense MLP or MoE experts alike) and one for the root, so
parameters, gradients and AdamW state all live as 1/N shards (the ~16 bytes per parameter of fp32
master weights and Adam that do not fit one GPU for a 7B model). On a GPU the layers compute in
bf16 from the fp32 shards and reduce gradients in fp32 (`MixedPrecisionPolicy`).
"""

from __future__ import annotations

import datetime
import socket
from typing import Any

import torch
import torch.distributed as dist


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("", 0))
        return probe.getsockname()[1]


def init_group(rank: int, world_size: int, address: str, port: int, device: torch.device, timeout_s: int) -> None:
    backend = "nccl" if device.type == "cuda" else "gloo"
    dist.init_process_group(backend, init_method=f"tcp://{address}:{port}", rank=rank, world_size=world_size,
                            timeout=datetime.timedelta(seconds=timeout_s))


def shard_model(model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """FSDP2 over every rank: each decoder layer one unit (its all-gather overlaps the previous
    layer's compute), then the root (embeddings, final norm, LM head)."""
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard

    mesh = init_device_mesh(device.type, (dist.get_world_size(),))
    policy = MixedPrecisionPolicy(param_dtype=torch.bfloat16, reduce_dtype=torch.float32) if device.type == "cuda" else None
    options: dict[str, Any] = {"mesh": mesh}
    if policy is not None:
        options["mp_policy"] = policy
    for layer in decoder_layers(model):
        fully_shard(layer, **options)
    fully_shard(model, **options)
    return model


def decoder_layers(model: torch.nn.Module) -> list[torch.nn.Module]:
    """The repeated blocks of a causal LM: the longest ModuleList of one block type (model.layers of
    Llama, Qwen, DeepSeek-V3 and their relatives; transformer.h of GPT-2)."""
    best: list[torch.nn.Module] = []
    for module in model.modules():
        if isinstance(module, torch.nn.ModuleList) and len(module) > len(best):
            if len({type(child) for child in module}) == 1:
                best = list(module)
    if not best:
        raise ValueError(f"cannot find the decoder layers of {type(model).__name__} to shard")
    return best


def split_rows(count: int, world_size: int) -> list[tuple[int, int]]:
    """[start, stop) of each rank's contiguous share of `count` rows, as even as possible."""
    base, extra = divmod(count, world_size)
    bounds, start = [], 0
    for rank in range(world_size):
        stop = start + base + (1 if rank < extra else 0)
        bounds.append((start, stop))
        start = stop
    return bounds


def all_reduce_sum(values: list[float], device: torch.device) -> list[float]:
    """Element-wise sum over ranks (a no-op with one rank)."""
    if not dist.is_initialized() or dist.get_world_size() == 1:
        return values
    tensor = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(tensor)
    return tensor.tolist()


def full(tensor: torch.Tensor) -> torch.Tensor:
    """The whole tensor from a DTensor shard (a collective: every rank calls it), or the tensor."""
    return tensor.full_tensor() if hasattr(tensor, "full_tensor") else tensor
