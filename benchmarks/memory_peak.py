"""What is allocated at a step's peak: replays a CUDA allocator trace (torch.cuda.memory's
recorded history) to the moment of the highest allocation, and groups the blocks alive then by the
code that allocated them.

Why: the per-phase peaks (memory/<phase>_peak_gib) say which phase sets the peak; this says which
tensors make it up (weights, optimizer state, gradients, checkpointed activations, a layer's
recomputation), so a change to cut the peak aims at the right one. Used by train_profile.py --memory.
"""

from __future__ import annotations

from collections import defaultdict

from grpo.phase_memory import GIB
# frames of these files say nothing about which tensor it is: the first frame outside them names it
_PLUMBING = ("torch/autograd/", "torch/utils/checkpoint", "torch/nn/modules/module.py", "torch/_tensor.py",
             "torch/optim/optimizer.py", "torch/_compile", "torch/_dynamo", "contextlib.py", "functools.py")


def site(frames: list[dict]) -> str:
    """'file.py:line function' of the innermost frame that is not plumbing, or '?'."""
    for frame in frames:
        name = frame.get("filename", "")
        if name and not any(p in name for p in _PLUMBING) and not name.startswith("??"):
            return f"{'/'.join(name.split('/')[-2:])}:{frame.get('line', 0)} {frame.get('name', '')}"
    return "?"


def live_at_peak(events: list[dict], start_bytes: int = 0) -> tuple[int, dict[str, int]]:
    """(peak bytes, bytes alive at the peak by allocation site) over one device's trace events
    ('alloc' / 'free_completed' with addr, size and frames). `start_bytes`: what was allocated
    before recording began (it counts in the peak, under the site '(before the trace)')."""
    live: dict[int, tuple[int, str]] = {}
    total, peak, at_peak = start_bytes, start_bytes, {}
    for event in events:
        action = event.get("action")
        if action == "alloc":
            live[event["addr"]] = (event["size"], site(event.get("frames", [])))
            total += event["size"]
            if total > peak:
                peak, at_peak = total, dict(live)
        elif action == "free_completed" and event["addr"] in live:
            total -= live.pop(event["addr"])[0]
    by_site: dict[str, int] = defaultdict(int)
    if start_bytes:
        by_site["(before the trace)"] = start_bytes
    for size, where in at_peak.values():
        by_site[where] += size
    return peak, dict(sorted(by_site.items(), key=lambda kv: -kv[1]))


def table(peak: int, by_site: dict[str, int], rows: int = 15) -> str:
    lines = [f"peak {peak / GIB:.2f} GiB; alive at the peak, by allocating code:", "| site | GiB |", "| --- | --- |"]
    lines += [f"| {where} | {size / GIB:.3f} |" for where, size in list(by_site.items())[:rows]]
    return "\n".join(lines)
