"""Weights packed into one flat host buffer, for separate transformers rollout workers.

Why not a dict of torch tensors: Ray pickles a torch tensor through `torch.save` into bytes and back,
which moved a 0.5B model (1 GB in bf16) in ~4.7 s per step on an H200 machine, longer than the
step's generation and training together. A NumPy array instead goes into Ray's object store as one
out-of-band buffer, and every worker on the node reads it from shared memory without a copy
(https://docs.ray.io/en/latest/ray-core/objects/serialization.html). So the learner copies each
tensor, already cast to the engines' precision, straight from its GPU into its slice of one NumPy
byte buffer, and a worker hands views into that buffer to `load_state_dict`.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Iterable

import numpy as np
import torch

ALIGN = 64  # every tensor starts on a 64-byte boundary, so a byte slice can be viewed as any dtype


@dataclass(frozen=True)
class Entry:
    name: str
    dtype: str  # "bfloat16": torch dtypes are not picklable by name across versions
    shape: tuple[int, ...]
    offset: int

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) * _dtype(self.dtype).itemsize


@dataclass
class PackedWeights:
    entries: list[Entry]
    buffer: np.ndarray  # uint8, all tensors back to back
    _index: dict[str, Entry] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._index = {entry.name: entry for entry in self.entries}

    @classmethod
    def allocate(cls, specs: Iterable[tuple[str, torch.dtype, tuple[int, ...]]]) -> "PackedWeights":
        """An empty buffer laid out for (name, dtype, shape) specs; fill it with `view(name).copy_()`."""
        entries, offset = [], 0
        for name, dtype, shape in specs:
            entry = Entry(name, str(dtype).removeprefix("torch."), tuple(int(s) for s in shape), offset)
            entries.append(entry)
            offset += -(-entry.nbytes // ALIGN) * ALIGN
        return cls(entries, np.empty(offset, dtype=np.uint8))

    @property
    def nbytes(self) -> int:
        return int(self.buffer.nbytes)

    def names(self) -> list[str]:
        return [entry.name for entry in self.entries]

    def view(self, name: str) -> torch.Tensor:
        """The buffer's slice for `name` as a tensor of its dtype and shape (shares the memory)."""
        return self._view(self._index[name])

    def tensors(self) -> dict[str, torch.Tensor]:
        """Every tensor as a view into the buffer. A worker's buffer is Ray's read-only shared
        memory: the views are only read (`load_state_dict` copies them onto the engine's device)."""
        return {entry.name: self._view(entry) for entry in self.entries}

    def _view(self, entry: Entry) -> torch.Tensor:
        raw = self.buffer[entry.offset : entry.offset + entry.nbytes]
        with warnings.catch_warnings():  # read-only shared memory: torch warns that it cannot write
            warnings.simplefilter("ignore", UserWarning)
            flat = torch.from_numpy(raw)
        return flat.view(_dtype(entry.dtype)).view(entry.shape)


def pack(state: dict[str, torch.Tensor], dtype: torch.dtype | None = None) -> PackedWeights:
    """A state dict (on any device) packed, floating tensors cast to `dtype` on their device first."""
    packed = PackedWeights.allocate((name, cast_dtype(t, dtype), tuple(t.shape)) for name, t in state.items())
    for name, tensor in state.items():
        packed.view(name).copy_(tensor.detach().to(cast_dtype(tensor, dtype)))
    return packed


def cast_dtype(tensor: torch.Tensor, dtype: torch.dtype | None) -> torch.dtype:
    return dtype if dtype is not None and tensor.is_floating_point() else tensor.dtype


def _dtype(name: str) -> torch.dtype:
    dtype = getattr(torch, name, None)
    if not isinstance(dtype, torch.dtype):
        raise ValueError(f"packed weights: unknown dtype {name!r}")
    return dtype
