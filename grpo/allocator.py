"""The learner process's CUDA caching-allocator setting: expandable segments where nothing forbids them.

PyTorch's default allocator carves fixed segments. A GRPO step allocates tensors of a new size
every step (uneven completion lengths, packed micro-batches, KV caches freed after generation),
so freed blocks often fit no later request and the card holds memory torch no longer uses. On
an H100 (docs/throughput.md, "H100, 2026-12-07 (tenth session)") the small workload's learner held 11.1
GiB by nvidia-smi for a torch peak of 8.8 GiB, and 10.0 GiB with expandable segments, at the
same step time within noise. Expandable segments map more pages into one growing segment
instead, so freed space is reused whatever its size.

vLLM's sleep mode allocates its weights and KV cache through its own memory pool, which does
not work with expandable segments (vLLM asserts against them when it finds them in
PYTORCH_CUDA_ALLOC_CONF). So `auto` leaves them off in a learner that hosts a colocated vLLM
engine, or any engine a plugin registers (its allocator needs are unknown), and turns them on
otherwise: the transformers engine, separate rollout workers (their own processes), SFT.
"""

from __future__ import annotations

import os

import torch

from grpo.config import Recipe

ENV = "PYTORCH_CUDA_ALLOC_CONF"


def hosts_foreign_allocator(recipe: Recipe) -> bool:
    """Whether the learner's process runs an engine that may bring its own memory pool: any
    colocated engine but the transformers one (which generates with the trained module)."""
    return recipe.rollout.colocate and recipe.rollout.engine != "transformers"


def wants_expandable_segments(recipe: Recipe, environ: dict[str, str] | None = None) -> bool | None:
    """True/False: the setting to apply; None: leave the allocator as the process found it
    (auto where the user's PYTORCH_CUDA_ALLOC_CONF already says, or where an engine forbids)."""
    choice = recipe.trainer.expandable_segments
    if choice != "auto":
        return choice == "on"
    env = (os.environ if environ is None else environ).get(ENV, "")
    if "expandable_segments" in env or hosts_foreign_allocator(recipe):
        return None
    return True


def configure_allocator(recipe: Recipe, device: torch.device) -> bool | None:
    """Apply the recipe's setting before the learner's first CUDA allocation. Returns what was
    applied (None: nothing). PyTorch reads PYTORCH_CUDA_ALLOC_CONF when the allocator starts, so
    a process already running is changed through the allocator's own setter (the call NeMo and
    vLLM's sleep-mode allocator make to switch the same setting)."""
    if device.type != "cuda":
        return None
    wanted = wants_expandable_segments(recipe)
    if wanted is not None:
        torch.cuda.memory._set_allocator_settings(f"expandable_segments:{wanted}")
    return wanted
