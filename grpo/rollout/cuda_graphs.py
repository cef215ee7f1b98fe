"""Decode steps replayed from CUDA graphs captured directly (`rollout.capture: cuda_graph`).

Why not only torch.compile: an eager decode step of a 1.5B model costs ~50-65 ms on an H200 at any
batch size, all of it kernel launches (benchmarks/decode_scaling.py). `torch.compile(mode=
"reduce-overhead")` removes them too, but compiles one graph per (batch, cache length), which
compaction makes several per call, each costing tens of seconds and counting against dynamo's
recompile limit. Capturing the eager step as it is costs one extra step per shape and no compile.

What a replay relies on, and how this keeps it true:
- the inputs are copied into the graph's own buffers before each replay;
- the KV cache (a StaticCache) keeps its addresses: one graph per (cache addresses, shape); the
  engine's caches share one pool (grpo/rollout/kv_pool.py), and when the pool grows the engine
  calls `forget()`;
- the model's weights keep their addresses: a weight sync copies in place, but anything that
  swaps a parameter or buffer tensor changes the fingerprint and drops every graph;
- the capture's warm-up runs really execute the step; counters the cache advances in place
  (transformers 5's `cumulative_length`) are restored afterwards, and the slot they wrote is
  written again by the first replay.
transformers skips its data-dependent mask shortcuts while a CUDA stream is capturing
(`is_tracing`), so the captured step is the same computation as the eager one.
"""

from __future__ import annotations

from typing import Any, Callable

import torch
from torch import nn

WARMUP_RUNS = 2  # before capture, on a side stream (cuBLAS / allocator warm-up, as PyTorch's docs ask)


def weights_fingerprint(model: nn.Module) -> tuple[int, ...]:
    """Addresses of every parameter and buffer: a captured graph reads exactly these."""
    return tuple(t.data_ptr() for t in (*model.parameters(), *model.buffers()))


def cache_addresses(cache: Any) -> tuple[int, ...]:
    """Where a StaticCache's keys and values live (a re-allocated cache needs new graphs)."""
    return tuple(t.data_ptr() for layer in getattr(cache, "layers", []) if getattr(layer, "is_initialized", False)
                 for t in (layer.keys, layer.values))


def _counters(cache: Any) -> list[torch.Tensor]:
    """Tensors a cache advances in place during a step (restored after the capture's warm-up)."""
    layers = getattr(cache, "layers", [])
    return [layer.cumulative_length for layer in layers if isinstance(getattr(layer, "cumulative_length", None), torch.Tensor)]


class CudaGraphs:
    """The capture itself (a seam: tests on a CPU swap in an eager stand-in)."""

    def warm_up(self, step: Callable[[], torch.Tensor]) -> None:
        stream = torch.cuda.Stream()
        stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(stream):
            for _ in range(WARMUP_RUNS):
                step()
        torch.cuda.current_stream().wait_stream(stream)

    def capture(self, step: Callable[[], torch.Tensor]) -> tuple[Callable[[], None], torch.Tensor]:
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            output = step()
        return graph.replay, output


class GraphedDecode:
    """Callable like `decode(input_ids, position_ids, cache_position, attention_mask, cache)`:
    captures one CUDA graph per (cache memory, batch, mask width) on first use, replays it after."""

    def __init__(self, decode: Callable[..., torch.Tensor], model: nn.Module, backend: Any = None):
        self.decode = decode
        self.model = model
        self.backend = backend or CudaGraphs()
        self.graphs: dict[tuple[int, ...], tuple[Callable[[], None], list[torch.Tensor], torch.Tensor]] = {}
        self.fingerprint: tuple[int, ...] | None = None
        self.captures = 0  # graphs captured so far (each costs WARMUP_RUNS extra steps)

    def check_weights(self) -> None:
        """Drop every graph if a weight tensor moved since the last call. Once per generate call,
        not per step: weights change between calls (optimizer step, weight sync), never during one."""
        fingerprint = weights_fingerprint(self.model)
        if fingerprint != self.fingerprint:  # a tensor was swapped: every graph reads stale memory
            self.graphs.clear()
            self.fingerprint = fingerprint

    def forget(self) -> None:
        """Drop every graph: the engine replaced the KV pool's buffers, so the graphs' cache
        addresses are freed memory (a later buffer could even land at the same address)."""
        self.graphs.clear()

    def __call__(self, input_ids: torch.Tensor, position_ids: torch.Tensor, cache_position: torch.Tensor,
                 attention_mask: torch.Tensor, cache: Any) -> torch.Tensor:
        inputs = (input_ids, position_ids, cache_position, attention_mask)
        key = (*cache_addresses(cache), *input_ids.shape, *attention_mask.shape)
        if key not in self.graphs:
            self.graphs[key] = self._capture(inputs, cache)
        replay, buffers, output = self.graphs[key]
        for buffer, value in zip(buffers, inputs):
            buffer.copy_(value)
        replay()
        return output  # overwritten by the next replay: the caller copies it

    def _capture(self, inputs: tuple[torch.Tensor, ...], cache: Any):
        buffers = [value.clone() for value in inputs]
        counters = _counters(cache)
        saved = [counter.clone() for counter in counters]
        step = lambda: self.decode(*buffers, cache)  # noqa: E731
        try:
            self.backend.warm_up(step)
            replay, output = self.backend.capture(step)
        finally:  # the warm-up runs advanced them; restored even when the capture fails (eager goes on)
            for counter, value in zip(counters, saved):
                counter.copy_(value)
        self.captures += 1
        return replay, buffers, output
