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
    (the LR scheduler drives it)."""

    def __init__(self, params: list[torch.nn.Parameter], **kwargs: Any):
        self.params = list(params)
        self.master = [p.detach().float().clone().requires_grad_(True) for p in self.params]
        self.inner = torch.optim.AdamW(self.master, **kwargs)

    @property
    def param_groups(self) -> list[dict[str, Any]]:
        return self.inner.param_groups

    def step(self) -> None:
        for param, master in zip(self.params, self.master):
            master.grad = None if param.grad is None else param.grad.float()
            # the low-precision gradient is spent once copied: releasing it here keeps the two
            # copies of every gradient (2 + 4 bytes a parameter) from coexisting at the step, by
            # estimate the peak of a run whose activations are recomputed (0.9 GiB for 0.5B)
            param.grad = None
        self.inner.step()
        with torch.no_grad():
            for param, master in zip(self.params, self.master):
                param.copy_(master)

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
