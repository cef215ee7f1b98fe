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

While vLLM loads, the trainer's frozen weights wait in host memory (`park_on_host`), so the two
copies are not on the device at once. Before that, start-up set the run's peak (7B, H100,
2026-12-06: 44.6 GiB on the device at start-up against 31.5 GiB in every later generation);
with parking the whole run peaked at 32.9 GiB, against 44.3 for TRL with vLLM asleep.
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


def frozen_base_weights(model: torch.nn.Module) -> dict[str, torch.nn.Parameter]:
    """Checkpoint name -> each frozen base weight of a (PEFT-wrapped) model, adapters left out;
    a tied weight appears once."""
    from grpo.policy import unwrap

    return {name.replace(".base_layer", ""): param for name, param in unwrap(model).named_parameters()
            if not param.requires_grad and "lora_" not in name}


def park_on_host(weights: Mapping[str, torch.nn.Parameter]) -> dict[str, torch.device]:
    """Move each weight's storage to host memory and give the device memory back, before the
    engine loads its copy; returns where each weight lived (`share` puts back those it cannot
    share, `return_home` all of them)."""
    home = {}
    with torch.no_grad():
        for name, param in weights.items():
            home[name] = param.device
            if param.device.type != "cpu":
                param.data = param.data.to("cpu")
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    return home


def return_home(weights: Mapping[str, torch.nn.Parameter], home: Mapping[str, torch.device]) -> None:
    """Every weight not already there back on the device it lived on before `park_on_host`."""
    with torch.no_grad():
        for name, device in home.items():
            if weights[name].device != device:
                weights[name].data = weights[name].data.to(device)


def share(weights: Mapping[str, torch.nn.Parameter], engine_params: Mapping[str, torch.Tensor], plan: Plan,
          home: Mapping[str, torch.device] | None = None) -> int:
    """Point each planned trainer weight at its engine view, where the values match exactly;
    returns the bytes no longer held twice. `weights`: checkpoint name -> the trainer's frozen
    parameter. `home`: where each weight lived before `park_on_host` (a view must be on that
    device); every weight left unshared goes back there."""
    home = home or {}
    shared = 0
    with torch.no_grad():
        for name, (engine_name, start, end) in plan.items():
            param, source = weights[name], engine_params[engine_name]
            view = source[start:end]
            if (view.shape != param.shape or view.dtype != param.dtype or view.device != home.get(name, param.device)
                    or param.requires_grad or not torch.equal(view, param.to(view.device))):
                continue
            param.data = view
            shared += view.numel() * view.element_size()
    return_home(weights, home)
    return shared
