"""Moving the trainer's weights into a generation engine: names, buckets, and the broadcast protocol.

Pure tensor code, no vLLM import, so all of it runs (and is tested) on CPU:

- `engine_weight_name` maps a parameter name of the *training* module (PEFT wrapper, torch.compile
  or DDP prefixes, LoRA `base_layer`) to the Hugging Face checkpoint name that an inference
  engine's `load_weights` expects; vLLM fuses q/k/v and gate/up itself from those names.
- `plan_buckets` groups parameters into flat byte buffers of bounded size, so a sync is a few
  large collectives instead of hundreds of small ones, and never needs more than one bucket of
  extra memory on either side.
- `send_buckets` / `receive_buckets` run the same plan on both ends of any `broadcast(tensor,
  src)` (NCCL between GPUs, gloo in the tests); the receiver hands finished tensors to a loader.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable, Iterator, Mapping

import torch

_WRAPPER_PREFIXES = ("_orig_mod.", "module.", "base_model.model.")


def engine_weight_name(name: str) -> str | None:
    """The checkpoint name of a training-module parameter, or None when it is not a weight of the
    served model (a LoRA factor: it is merged into its base weight or synced as an adapter)."""
    if ".lora_" in name or name.startswith("lora_"):
        return None
    changed = True
    while changed:
        changed = False
        for prefix in _WRAPPER_PREFIXES:
            if name.startswith(prefix):
                name, changed = name[len(prefix):], True
    return name.replace("._orig_mod.", ".").replace(".base_layer.", ".")


def lora_base_layer_names(
    names: Iterable[str], engine_params: Iterable[str], packed: dict[str, list[str]] | None = None,
) -> dict[str, str]:
    """Checkpoint name -> the name a LoRA-enabled engine loads it under.

    vLLM wraps every LoRA-capable linear layer and moves its weight to `<module>.base_layer.weight`;
    its loader still fuses q/k/v (gate/up) by substring, so `q_proj.weight` must arrive as
    `q_proj.base_layer.weight`. `engine_params`: the engine's parameter names; `packed`: its fused
    module -> source modules map (e.g. qkv_proj -> q_proj, k_proj, v_proj).
    """
    wrapped = {name.split(".base_layer.")[0].rsplit(".", 1)[-1] for name in engine_params if ".base_layer." in name}
    for fused, parts in (packed or {}).items():
        if fused in wrapped:
            wrapped.update(parts)
    mapping = {}
    for name in names:
        module, _, leaf = name.rpartition(".")
        mapping[name] = f"{module}.base_layer.{leaf}" if module.rsplit(".", 1)[-1] in wrapped else name
    return mapping


def engine_weights(model: torch.nn.Module, *, merge_lora: bool = True) -> Iterator[tuple[str, torch.Tensor]]:
    """(checkpoint name, tensor) of every served weight, on the model's own device (no host copy).

    With LoRA, merge_lora=True folds each adapter delta into its base weight (an engine serving
    one merged model); merge_lora=False yields the frozen base weights alone (an engine that
    applies the adapter itself). Tied weights appear under their first name only."""
    from grpo.policy import unwrap

    base = unwrap(model)
    if base is not model and merge_lora:  # merged view, computed on the GPU
        from grpo.policy import _merged_lora_state

        for name, tensor in _merged_lora_state(model).items():
            mapped = engine_weight_name(name)
            if mapped is not None:
                yield mapped, tensor.detach()
        return
    seen: set[int] = set()
    for name, param in base.named_parameters(remove_duplicate=False):
        mapped = engine_weight_name(name)
        if mapped is None or id(param) in seen:
            continue
        seen.add(id(param))
        yield mapped, param.detach()


@dataclass(frozen=True)
class Slot:
    """Where one tensor lives inside its bucket's flat uint8 buffer."""

    name: str
    dtype: torch.dtype
    shape: tuple[int, ...]
    offset: int  # bytes from the start of the bucket
    nbytes: int


@dataclass(frozen=True)
class Bucket:
    slots: tuple[Slot, ...]
    nbytes: int


_ALIGN = 256  # every slot starts on a 256-byte boundary, so views of any dtype are aligned


def plan_buckets(metas: Iterable[tuple[str, torch.dtype, tuple[int, ...]]], bucket_bytes: int) -> list[Bucket]:
    """Greedy, order-preserving split into buckets of at most `bucket_bytes` (a tensor larger than
    that gets a bucket of its own). Both ends compute the same plan from the same metadata."""
    if bucket_bytes <= 0:
        raise ValueError(f"bucket_bytes must be positive, got {bucket_bytes}")
    buckets: list[Bucket] = []
    slots: list[Slot] = []
    used = 0
    for name, dtype, shape in metas:
        nbytes = _numel(shape) * _itemsize(dtype)
        start = _aligned(used)
        if slots and start + nbytes > bucket_bytes:
            buckets.append(Bucket(tuple(slots), used))
            slots, start = [], 0
        slots.append(Slot(name, dtype, tuple(shape), start, nbytes))
        used = start + nbytes
    if slots:
        buckets.append(Bucket(tuple(slots), used))
    return buckets


def pack(bucket: Bucket, tensors: Mapping[str, torch.Tensor], device: torch.device | str) -> torch.Tensor:
    """The bucket's flat uint8 buffer filled with its tensors (copied on `device`)."""
    flat = torch.zeros(bucket.nbytes, dtype=torch.uint8, device=device)
    for slot in bucket.slots:
        tensor = tensors[slot.name]
        if tensor.dtype != slot.dtype or tuple(tensor.shape) != slot.shape:
            raise ValueError(f"{slot.name}: planned {slot.dtype} {slot.shape}, got {tensor.dtype} {tuple(tensor.shape)}")
        flat[slot.offset : slot.offset + slot.nbytes].copy_(tensor.contiguous().reshape(-1).view(torch.uint8))
    return flat


def unpack(bucket: Bucket, flat: torch.Tensor) -> list[tuple[str, torch.Tensor]]:
    """Views into `flat`, one per slot, with the planned dtype and shape (no copy)."""
    return [
        (slot.name, flat[slot.offset : slot.offset + slot.nbytes].view(slot.dtype).reshape(slot.shape))
        for slot in bucket.slots
    ]


Broadcast = Callable[[torch.Tensor, int], None]


def send_buckets(
    plan: list[Bucket], tensors: Mapping[str, torch.Tensor] | Callable[[Bucket], Mapping[str, torch.Tensor]],
    broadcast: Broadcast, device: torch.device | str,
) -> None:
    """Sender side (rank 0): one broadcast per bucket. `tensors`: every tensor by name, or a
    function giving one bucket's tensors when it is packed (a sharded learner gathers them then,
    so the full weights never exist on one GPU at once)."""
    for bucket in plan:
        broadcast(pack(bucket, tensors(bucket) if callable(tensors) else tensors, device), 0)


def receive_buckets(
    plan: list[Bucket], broadcast: Broadcast, device: torch.device | str,
    load: Callable[[list[tuple[str, torch.Tensor]]], None],
) -> int:
    """Receiver side: the same broadcasts in the same order; `load` gets each bucket's tensors
    (views of a buffer that is reused only after `load` returns). Returns the bytes received."""
    total = 0
    for bucket in plan:
        flat = torch.empty(bucket.nbytes, dtype=torch.uint8, device=device)
        broadcast(flat, 0)
        load(unpack(bucket, flat))
        total += bucket.nbytes
    return total


def metadata(tensors: dict[str, torch.Tensor]) -> list[tuple[str, torch.dtype, tuple[int, ...]]]:
    return [(name, tensor.dtype, tuple(tensor.shape)) for name, tensor in tensors.items()]


def _numel(shape: tuple[int, ...]) -> int:
    count = 1
    for size in shape:
        count *= int(size)
    return count


def _itemsize(dtype: torch.dtype) -> int:
    return torch.empty((), dtype=dtype).element_size()


def _aligned(offset: int) -> int:
    return (offset + _ALIGN - 1) // _ALIGN * _ALIGN
