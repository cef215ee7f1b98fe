"""One copy of a LoRA run's frozen base weights, shared by the trainer and a colocated vLLM.

Why: with LoRA the base weights never change, yet a colocated run held them twice, once in the
trainer and once in vLLM. At 7B that is 15.2 GiB each, and generation, which needs both, set the
step's peak (benchmarks/realistic_step.py, 2026-12-06: 41.5 GiB torch, 44.8 GiB on the device,
against 44.3 for TRL with vLLM asleep, which holds the same two copies). vLLM level-2 sleep
dropped its copy during training but reloaded all 15.2 GiB from the trainer before every
generation.

How: after vLLM has loaded the checkpoint, each frozen base weight of the trainer becomes a view
of the vLLM tensor that holds the same values, and its own storage is freed. vLLM's fused
q/k/v (gate/up) weights are their parts stacked along dim 0 (one GPU, no tensor parallelism), so
each part is a row slice; an embedding vLLM pads to more rows holds the checkpoint's rows first.
A weight is shared only if its view has the same shape, dtype and device and bit-identical
values (checked on the GPU); any other weight keeps its own copy, so a layout this module does
not know costs memory, never correctness. Neither side writes the shared tensors: the trainer's
are frozen, and vLLM stops reloading weights (its sleep then releases only the KV cache, see
VLLMEngine). The trainer's LoRA adapters stay its own.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

# checkpoint name -> (engine parameter name, first row, end row)
Plan = dict[str, tuple[str, int, int]]


def plan_views(shapes: Mapping[str, tuple[int, ...]], engine_shapes: Mapping[str, tuple[int, ...]],
               packed: Mapping[str, list[str]], engine_names: Mapping[str, str]) -> Plan:
    """Where each checkpoint weight lives inside the engine's parameters.

    shapes: checkpoint name -> shape of the trainer's frozen weights; engine_shapes: the engine's
    parameters; packed: fused module -> its parts in stacking order (vLLM's
    `packed_modules_mapping`, e.g. qkv_proj -> [q_proj, k_proj, v_proj]); engine_names:
    checkpoint name -> the name the engine loads it under (grpo.rollout.weight_sync's
    lora_base_layer_names: `q_proj.base_layer.weight` under vLLM's LoRA wrappers). Weights with
    no place that fits (a missing part, rows that do not add up) are left out."""
    part_of = {part: (fused, parts) for fused, parts in packed.items() for part in parts}
    plan: Plan = {}
    for name, shape in shapes.items():
        target = engine_names.get(name, name)
        module, _, leaf = target.rpartition(".")
        owner = module.replace(".base_layer", "").rsplit(".", 1)
        fused = part_of.get(owner[-1])
        if fused is None:  # a weight of its own: same shape, or a padded embedding's first rows
            have = engine_shapes.get(target)
            if have is not None and len(have) == len(shape) and have[1:] == shape[1:] and have[0] >= shape[0]:
                plan[name] = (target, 0, shape[0])
            continue
        fused_module, parts = fused
        fused_name = target.replace(f".{owner[-1]}.", f".{fused_module}.", 1) if len(owner) > 1 else None
        have = engine_shapes.get(fused_name) if fused_name else None
        siblings = [name.replace(f".{owner[-1]}.", f".{part}.", 1) for part in parts]
        sizes = [shapes.get(sibling) for sibling in siblings]
        if have is None or any(size is None or size[1:] != have[1:] for size in sizes):
            continue
        if sum(size[0] for size in sizes) != have[0]:
            continue
        start = sum(size[0] for size in sizes[: parts.index(owner[-1])])
        plan[name] = (fused_name, start, start + shape[0])
    return plan


def share(weights: Mapping[str, torch.nn.Parameter], engine_params: Mapping[str, torch.Tensor], plan: Plan) -> int:
    """Point each planned trainer weight at its engine view, where the values match exactly;
    returns the bytes no longer held twice. `weights`: checkpoint name -> the trainer's frozen
    parameter."""
    shared = 0
    with torch.no_grad():
        for name, (engine_name, start, end) in plan.items():
            param, source = weights[name], engine_params[engine_name]
            view = source[start:end]
            if (view.shape != param.shape or view.dtype != param.dtype or view.device != param.device
                    or param.requires_grad or not torch.equal(view, param)):
                continue
            param.data = view
            shared += view.numel() * view.element_size()
    return shared
