"""Liger-Kernel's fused Triton kernels on the policy (`model.liger_kernel: true`).

Why: eager transformers runs every RMSNorm, SwiGLU and rotary embedding as several small kernels,
and gradient checkpointing runs them all twice; Liger fuses each into one. We apply the same patch
TRL's `use_liger_kernel` and transformers' Trainer apply (Liger's own per-architecture functions)
rather than writing kernels. The LM head stays ours (grpo/policy.py): the GRPO loss needs
per-token log-probs with gradients, which Liger's fused linear cross-entropy does not return.

Under torch.compile (the transformers engine's compiled decode step) every patched forward and
function runs its original eager code instead: dynamo cannot trace Liger's Triton launchers
(`CompilationError ... 'float' object has no attribute 'to'`) and fell back to eager decoding,
11x slower. Training, prefill and CUDA-graph captured decoding keep Liger's kernels, and with
them the memory they save: the float32 copies eager RMSNorm keeps for backward, and SwiGLU's
SiLU output (Liger recomputes it in backward). With recomputation on the 0.5B small workload that
took the update's peak from 9.35 to 8.81 GiB.
"""

from __future__ import annotations

import inspect
import sys
from typing import Callable

import torch

from grpo.config import RecipeError

# what is fused; the LM head and the losses are left alone
KERNELS = {"rope": True, "rms_norm": True, "swiglu": True, "cross_entropy": False, "fused_linear_cross_entropy": False}


def apply(model: torch.nn.Module, device: torch.device) -> dict[str, bool]:
    """Patch `model` (a transformers causal LM, before any PEFT wrapper) in place; returns the
    kernels the architecture's patch function took. `device`: where the model will run."""
    if device.type != "cuda":
        raise RecipeError("model.liger_kernel: Liger's kernels are Triton GPU kernels and this model runs on "
                          f"{device.type}; set model.liger_kernel=false (or trainer.device=cuda)")
    try:
        from liger_kernel.transformers.monkey_patch import MODEL_TYPE_TO_APPLY_LIGER_FN
    except ImportError as err:
        raise RecipeError("model.liger_kernel=true needs the liger-kernel package: pip install 'grpo[liger]' "
                          f"(or set model.liger_kernel=false) [{err}]") from None
    model_type = getattr(model.config, "model_type", None)
    patch = MODEL_TYPE_TO_APPLY_LIGER_FN.get(model_type)
    if patch is None:
        raise RecipeError(f"model.liger_kernel: Liger has no kernels for model type {model_type!r} (it has: "
                          f"{', '.join(sorted(MODEL_TYPE_TO_APPLY_LIGER_FN))}); set model.liger_kernel=false")
    accepted = inspect.signature(patch).parameters
    chosen = {name: on for name, on in KERNELS.items() if name in accepted}
    modeling = sys.modules[type(model).__module__]
    functions = {name: value for name, value in vars(modeling).items() if inspect.isfunction(value)}
    patched_before = {id(m) for m in model.modules() if "forward" in vars(m)}
    patch(model=model, **chosen)
    keep_eager_under_compile(model, modeling, functions, patched_before)
    return chosen


def eager_under_compile(liger: Callable, original: Callable) -> Callable:
    """`liger` when run eagerly (or captured into a CUDA graph), `original` while dynamo traces."""
    def either(*args, **kwargs):
        if torch.compiler.is_compiling():
            return original(*args, **kwargs)
        return liger(*args, **kwargs)
    either.__wrapped__ = liger
    return either


def keep_eager_under_compile(model: torch.nn.Module, modeling, functions: dict[str, Callable],
                             patched_before: set[int]) -> None:
    """Wrap what a Liger patch replaced: the instance forwards it bound on `model`'s modules (the
    class's forward is the original) and the functions of the modeling module it swapped (rotary);
    the classes it swapped (for models built later) are left alone."""
    for module in model.modules():
        bound = vars(module).get("forward")
        if bound is not None and id(module) not in patched_before:
            module.forward = eager_under_compile(bound, type(module).forward.__get__(module))
    for name, original in functions.items():
        now = getattr(modeling, name)
        if now is not original and inspect.isfunction(now):
            setattr(modeling, name, eager_under_compile(now, original))
