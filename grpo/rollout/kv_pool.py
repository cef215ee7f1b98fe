"""One backing buffer per layer for every static KV cache the transformers engine makes.

Why: compaction moves the live rows into a smaller StaticCache at each power of two (512, 256, ...,
16 rows), and every cache keeps its own memory so that captured decode graphs can be replayed
against fixed addresses. Kept side by side, those caches hold about twice the largest one: 35 GiB
for workload R (512 rows x 1,280 tokens of a 1.5B model, 17.5 GiB each half), all of it still
allocated while a colocated learner trains, which is what set that run's peak memory. The caches
of one decode loop are never live together after a shrink has copied the survivors over, so they
can share memory: each cache's keys (and values) of layer i are a contiguous view at the start of
one buffer per layer, sized for the largest cache asked for so far.

Views start at the same address whatever their shape, so a captured graph keyed by (addresses,
shape) stays valid while the buffer lives; a request larger than the buffer replaces it, and the
engine then forgets every cache (and graph) made on the old one.
"""

from __future__ import annotations

import weakref
from typing import Any

import torch


class KVPool:
    """Buffers keyed by (layer, "keys" | "values"); `view` hands out a cache's tensors from them."""

    def __init__(self) -> None:
        self.buffers: dict[tuple[int, str], torch.Tensor] = {}
        self.generation = 0  # bumped whenever a buffer is replaced: caches made before are stale

    def view(self, layer: int, kind: str, like: torch.Tensor) -> torch.Tensor:
        """A tensor shaped like `like` over the start of the (layer, kind) buffer. `like` is what
        transformers allocated for the cache; it becomes the buffer when none is big enough (no
        second allocation), so the old buffer is freed once the caches that viewed it are dropped."""
        key = (layer, kind)
        buffer = self.buffers.get(key)
        fits = (buffer is not None and buffer.numel() >= like.numel() and buffer.dtype == like.dtype
                and buffer.device == like.device)
        if not fits:
            if not like.is_contiguous():
                raise ValueError("a KV cache layer allocated non-contiguous keys or values")
            if buffer is not None:
                self.generation += 1
            self.buffers[key] = buffer = like.view(-1)
        return buffer[: like.numel()].view(like.shape)

    def nbytes(self) -> int:
        return sum(buffer.numel() * buffer.element_size() for buffer in self.buffers.values())


def draw_from(pool: KVPool, cache: Any) -> None:
    """Make each layer of a fresh StaticCache take its keys and values from `pool` when it first
    allocates them (transformers allocates lazily, at the prefill's first write to each layer).

    The patch holds the layer weakly and calls the class's function, not a bound method: a layer
    holding a closure that holds the layer is a reference cycle, which would keep a dropped
    cache's memory allocated until Python's cycle collector happened to run."""
    for index, layer in enumerate(getattr(cache, "layers", [])):
        layer.lazy_initialization = _pooled_initialization(pool, index, weakref.ref(layer),
                                                           type(layer).lazy_initialization)


def _pooled_initialization(pool: KVPool, index: int, layer_ref: "weakref.ref[Any]", original: Any) -> Any:
    def pooled(key_states: torch.Tensor, value_states: torch.Tensor) -> None:
        layer = layer_ref()
        original(layer, key_states, value_states)  # sets every attribute this transformers version needs
        layer.keys = pool.view(index, "keys", layer.keys)
        layer.values = pool.view(index, "values", layer.values)
        # as transformers does for its own tensors: a torch.compile'd step must not copy them
        torch._dynamo.mark_static_address(layer.keys)
        torch._dynamo.mark_static_address(layer.values)

    return pooled
