"""Wait until no other process computes on the GPU before a benchmark row starts.

Why: each row runs in its own process, and a finished row's helpers (Ray workers, vLLM's engine
core, compile workers) can outlive its driver by seconds. On 2026-12-03 every row that ran second
in a call of benchmarks/gpu_step.py was 30-70% slower in both generation and training, including
a row whose one changed setting could not have acted (a transformers-engine option under vLLM):
a row must not share the GPU or the host with the last one's leftovers.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time


def gpu_processes() -> list[int]:
    """PIDs with a compute context on any visible GPU, this process excluded ([] without nvidia-smi)."""
    if shutil.which("nvidia-smi") is None:
        return []
    try:
        listed = subprocess.run(["nvidia-smi", "--query-compute-apps=pid", "--format=csv,noheader"],
                                capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [int(line) for line in listed.split() if line.strip().isdigit() and int(line) != os.getpid()]


def wait_for_idle_gpu(timeout_s: float = 90.0, poll_s: float = 1.0) -> dict:
    """Block until no other process holds the GPU, or `timeout_s`; returns the seconds waited and
    the PIDs still there at the end (reported beside the row, so a crowded row is visible)."""
    started = time.time()
    left = gpu_processes()
    while left and time.time() - started < timeout_s:
        time.sleep(poll_s)
        left = gpu_processes()
    return {"waited_s": round(time.time() - started, 1), "other_gpu_pids": left}


def release_driver_gpu() -> None:
    """The benchmark driver's own cached GPU memory back to the device, before it starts rows.

    Why: the driver builds the workload's checkpoint on the GPU (a 7B model initialises in float32,
    28 GiB); torch's allocator keeps those blocks after the model is gone, and the rows, each in its
    own process, then started with that much less free memory: on 2026-12-05 a 7B LoRA row's vLLM
    found 34 of 79 GiB free and its first wake-up ran out of memory.
    """
    import gc
    import sys

    gc.collect()
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.empty_cache()
