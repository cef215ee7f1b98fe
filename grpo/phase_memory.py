"""Peak GPU memory per phase of a step (generation, then the update), not only the step's peak.

Why: a colocated step's one peak does not say which phase set it. Workload R's peak was the
transformers engine's KV caches still allocated while the learner trained; the split shows
that at a glance (`memory/generate_peak_gib` vs `memory/train_peak_gib`), and says which knob
to turn (the rollout's batch and length, or the trainer's micro-batch and checkpointing). The
optimizer's step is its own phase (`memory/optimizer_peak_gib`): with recomputed activations the
gradients, master weights and Adam state it touches can set the peak rather than backward.
The reading and resetting are passed in, so the bookkeeping is tested without a GPU.
"""

from __future__ import annotations

from typing import Callable

GIB = 2**30


class PhasePeaks:
    """`end_phase(name)` after each phase; `metrics()` once per step. A phase's peak is the
    highest allocation since the previous phase ended (memory held across phases counts in both)."""

    def __init__(self, read: Callable[[], int], reset: Callable[[], None], unheld: Callable[[], int] | None = None):
        """`unheld`: bytes that `read` counts but the device did not hold at any moment of the
        phase (a sleeping colocated vLLM's released memory, which torch still counts as allocated);
        asked once per phase, at its end, and taken off its peak."""
        self.read, self.reset, self.unheld = read, reset, unheld
        self.peaks: dict[str, float] = {}

    def end_phase(self, name: str) -> None:
        peak = self.read() - (self.unheld() if self.unheld is not None else 0)
        # a phase run twice in one step (several generate calls) keeps its highest peak
        self.peaks[name] = max(self.peaks.get(name, 0.0), peak / GIB)
        self.reset()

    def metrics(self) -> dict[str, float]:
        """`memory/<phase>_peak_gib` for each phase, and `memory/peak_gib`, the step's peak."""
        out = {f"memory/{name}_peak_gib": peak for name, peak in self.peaks.items()}
        out["memory/peak_gib"] = max(self.peaks.values(), default=0.0)
        self.peaks = {}
        return out
