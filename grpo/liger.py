"""Liger-Kernel's fused Triton kernels on the policy (`model.liger_kernel: true`).

Why: eager transformers runs every RMSNorm, SwiGLU and rotary embedding as several small kernels,
and gradient checkpointing runs them all twice; Liger fuses each into one. We apply the same patch
TRL's `use_liger_kernel` and transformers' Trainer apply (Liger's own per-architecture functions)
rather than writing kernels. The LM head stays ours (grpo/policy.py): the GRPO loss needs
per-token log-probs with gradients, which Liger's fused linear cross-entropy does not return.
"""

from __future__ import annotations

import inspect

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
    patch(model=model, **chosen)
    return chosen
