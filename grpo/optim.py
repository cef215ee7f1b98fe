"""AdamW with float32 master weights for a bf16/fp16 model.

A bf16 weight of magnitude 0.02 has a resolution of about 1e-4, so an Adam step of 1e-6 (the
usual RL learning rate) rounds to nothing: pure-bf16 training silently stops learning. Here the
optimizer steps float32 copies of the weights and writes them back to the low-precision model
after each step (mixed-precision training, Micikevicius et al. 2018).
"""

from __future__ import annotations

from typing import Any

import torch


class MasterWeightAdamW:
    """Drop-in for the few optimizer methods the learner uses; `inner` is a real torch optimizer
    (the LR scheduler drives it).

    The step runs over `chunks` of parameters, smallest first, each a few float32 gradients at a
    time: converting every gradient to float32 at once held all of them (4 bytes a parameter) on
    top of the weights, masters and Adam state. In groups, the 0.5B small workload's step peaks at
    7.8 GiB, below its backward pass (benchmarks/gpu_step.py). AdamW updates each parameter from
    its own state, so stepping them in groups is the same update; the largest (the embedding)
    goes last, when almost every bf16 gradient has been released already.
    """

    def __init__(self, params: list[torch.nn.Parameter], chunks: int = 16, **kwargs: Any):
        self.params = list(params)
        self.master = [p.detach().float().clone().requires_grad_(True) for p in self.params]
        self.inner = torch.optim.AdamW(self.master, **kwargs)
        self.groups = _size_groups([p.numel() for p in self.params], chunks)

    @property
    def param_groups(self) -> list[dict[str, Any]]:
        return self.inner.param_groups

    def step(self) -> None:
        for group in self.groups:
            stepped = []
            for i in group:
                param, master = self.params[i], self.master[i]
                if param.grad is None:
                    continue  # AdamW skips a parameter without a gradient; so does this step
                master.grad = param.grad.float()
                param.grad = None  # spent once copied: its 2 bytes a parameter go before the next
                stepped.append(i)
            if not stepped:
                continue
            self.inner.step()  # touches only the parameters that hold a gradient: this group's
            with torch.no_grad():
                for i in stepped:
                    self.params[i].copy_(self.master[i])
                    self.master[i].grad = None

    def zero_grad(self, set_to_none: bool = True) -> None:
        for param in self.params:
            param.grad = None
        for master in self.master:
            master.grad = None

    def state_dict(self) -> dict[str, Any]:
        return {"inner": self.inner.state_dict(), "master": [m.detach().cpu() for m in self.master]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        with torch.no_grad():
            for master, saved, param in zip(self.master, state["master"], self.params):
                master.copy_(saved.to(master.device))
                param.copy_(master)
        self.inner.load_state_dict(state["inner"])


def _size_groups(sizes: list[int], chunks: int) -> list[list[int]]:
    """Indices of `sizes` in ascending order, cut into consecutive groups of about total/chunks
    elements (a tensor larger than that is a group of its own)."""
    budget = max(1, sum(sizes) // max(1, chunks))
    groups: list[list[int]] = []
    current: list[int] = []
    held = 0
    for i in sorted(range(len(sizes)), key=lambda i: sizes[i]):
        if current and held + sizes[i] > budget:
            groups.append(current)
            current, held = [], 0
        current.append(i)
        held += sizes[i]
    if current:
        groups.append(current)
    return groups
