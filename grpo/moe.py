"""Mixture-of-experts policies (DeepSeek-V3 style: routed + shared experts): how evenly the router
spreads tokens over experts, measured on the tokens the policy trains on.

An unbalanced router wastes experts and, under expert parallelism, stalls the busiest one;
DeepSeek-V3 balances with a bias on the routing scores rather than an auxiliary loss, so the load
is worth watching during RL, which can shift it. Forward hooks on the router modules count the
experts each token is sent to; the learner turns the counts into per-step metrics.
"""

from __future__ import annotations

import torch
from torch import nn


def routers(model: nn.Module) -> list[nn.Module]:
    """The router (gate) modules of a MoE model: DeepSeek-V3's `...TopkRouter` and the `gate` of
    every `...MoE`/`...SparseMoeBlock` block."""
    found: dict[int, nn.Module] = {}  # by identity, in model order
    for module in model.modules():
        name = type(module).__name__
        if name.endswith(("TopkRouter", "Router")):
            found.setdefault(id(module), module)
        elif name.endswith(("MoE", "SparseMoeBlock")) and isinstance(getattr(module, "gate", None), nn.Module):
            found.setdefault(id(module.gate), module.gate)
    return list(found.values())


class RouterStats:
    """Counts of tokens per (router, expert) since the last `take()`."""

    def __init__(self, model: nn.Module):
        self.gates = routers(model)
        self.counts: dict[int, torch.Tensor] = {}
        self.enabled = True
        for index, gate in enumerate(self.gates):
            gate.register_forward_hook(self._hook(index))

    def __bool__(self) -> bool:
        return bool(self.gates)

    def _hook(self, index: int):
        def record(module: nn.Module, inputs: tuple, output: object) -> None:
            # not while generating or scoring without gradient, and not when gradient checkpointing
            # re-runs the forward inside backward (the tokens were counted the first time)
            if not self.enabled or not torch.is_grad_enabled() or _in_backward():
                return
            indices = _expert_indices(output)
            if indices is None:
                return
            experts = getattr(module, "n_routed_experts", None) or getattr(module, "num_experts", None) or int(indices.max()) + 1
            counts = torch.bincount(indices.reshape(-1).to("cpu"), minlength=int(experts)).double()
            self.counts[index] = self.counts.get(index, torch.zeros_like(counts)) + counts

        return record

    def take(self) -> torch.Tensor:
        """(routers, experts) token counts since the last take, then reset."""
        if not self.counts:
            return torch.zeros(0, 0, dtype=torch.float64)
        width = max(c.numel() for c in self.counts.values())
        table = torch.zeros(len(self.gates), width, dtype=torch.float64)
        for index, counts in self.counts.items():
            table[index, : counts.numel()] = counts
        self.counts = {}
        return table


def _in_backward() -> bool:
    try:
        return torch._C._current_graph_task_id() != -1
    except AttributeError:  # an older torch: count recomputed forwards too
        return False


def _expert_indices(output: object) -> torch.Tensor | None:
    """The integer tensor of chosen experts in a router's output (DeepSeek-V3: (logits, weights, indices))."""
    items = output if isinstance(output, (tuple, list)) else (output,)
    for item in reversed(items):
        if isinstance(item, torch.Tensor) and not item.is_floating_point():
            return item
    return None


def load_metrics(counts: torch.Tensor) -> dict[str, float]:
    """moe/load_max_over_mean: the busiest expert's tokens over the mean, averaged over routers
    (1.0 is perfectly even); moe/load_cv: the coefficient of variation of the load, averaged;
    moe/tokens_routed: token-to-expert assignments counted."""
    counts = counts[counts.sum(dim=1) > 0]
    if counts.numel() == 0:
        return {}
    mean = counts.mean(dim=1)
    return {
        "moe/load_max_over_mean": float((counts.max(dim=1).values / mean).mean()),
        "moe/load_cv": float((counts.std(dim=1, unbiased=False) / mean).mean()),
        "moe/tokens_routed": float(counts.sum()),
    }
