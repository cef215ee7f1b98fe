"""The GPU memory a benchmark row occupies on the device, as nvidia-smi reports it, sampled while
the row's process runs: the one peak that is the same measure for every system.

Why not torch.cuda.max_memory_allocated() (the rows' `peak_gib`): vLLM's sleep mode unmaps the
physical memory under its weights and KV cache but keeps their tensors, so torch still counts them
as allocated. A colocated vLLM row that sleeps while it trains (ours) is charged for memory it gave
back; one that never sleeps (TRL's default) holds it for real. On 2026-12-05 our 7B LoRA row's
optimizer phase read 41.2 GiB allocated with ~16 GiB of weights and LoRA state alive, while vLLM's
log said its sleep had freed 26.2 GiB. The device's own count also takes in what the allocators
cache, CUDA contexts and helper processes (vLLM's engine core, Ray workers), as a user's
nvidia-smi would; it includes ~0.5 GiB of context per process.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import threading
import time

MIB_PER_GIB = 1024


def peaks_from_samples(text: str, gpus: int) -> list[float]:
    """nvidia-smi's `memory.used` output (MiB; every interval one line per GPU, in index order) ->
    each GPU's highest sample in GiB. Lines that are not numbers (a driver warning) are skipped."""
    numbers = _numbers(text)
    peaks = [0.0] * gpus if numbers else []
    for index, value in enumerate(numbers):
        peaks[index % gpus] = max(peaks[index % gpus], value / MIB_PER_GIB)
    return peaks


def _numbers(text: str) -> list[float]:
    return [float(line) for line in (raw.strip() for raw in text.splitlines()) if line.replace(".", "", 1).isdigit()]


class DevicePeak:
    """Context manager: an `nvidia-smi --query-gpu=memory.used --loop-ms=interval_ms` process runs while
    the block runs; `peaks_gib` is then each GPU's highest sample. Without nvidia-smi there are no
    samples and peaks_gib stays []."""

    QUERY = ("nvidia-smi", "--query-gpu=memory.used", "--format=csv,noheader,nounits")

    def __init__(self, interval_ms: int = 50):
        self.interval_ms = interval_ms
        self.peaks_gib: list[float] = []
        self._process: subprocess.Popen | None = None
        self._reader: threading.Thread | None = None
        self._lines: list[tuple[float, str]] = []  # (wall time read, nvidia-smi's line)
        self._gpus = 1
        self.samples: list[tuple[float, list[float]]] = []  # (wall time, GiB per GPU), one per interval

    def __enter__(self) -> DevicePeak:
        if shutil.which("nvidia-smi") is None:
            return self
        once = subprocess.run(self.QUERY, capture_output=True, text=True, timeout=30, check=False).stdout
        self._gpus = max(1, len(_numbers(once)))
        self._process = subprocess.Popen([*self.QUERY, f"--loop-ms={self.interval_ms}"], stdout=subprocess.PIPE,
                                         stderr=subprocess.DEVNULL, text=True, start_new_session=True)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        return self

    def __exit__(self, *exc) -> None:
        if self._process is None:
            return
        try:
            os.killpg(self._process.pid, signal.SIGTERM)  # the sampler and anything it started
        except ProcessLookupError:
            pass
        self._process.wait(timeout=10)
        if self._reader is not None:
            self._reader.join(timeout=10)
        self.peaks_gib = peaks_from_samples("".join(line for _, line in self._lines), self._gpus)
        self.samples = timed_samples(self._lines, self._gpus)

    def _read(self) -> None:
        for line in self._process.stdout:
            self._lines.append((time.time(), line))

    def peaks_between(self, start: float, end: float) -> list[float]:
        """Each GPU's highest sample taken from `start` to `end` (wall times); [] if none."""
        inside = [gib for at, gib in self.samples if start <= at <= end]
        return [max(column) for column in zip(*inside)] if inside else []


def timed_samples(lines: list[tuple[float, str]], gpus: int) -> list[tuple[float, list[float]]]:
    """(wall time, nvidia-smi line) pairs -> one (time, GiB per GPU) per interval, stamped with
    the time its last GPU's line was read. Lines that are not numbers are skipped, as in
    peaks_from_samples; an interval cut short at the end is dropped."""
    numbers = [(at, float(line.strip())) for at, line in lines if line.strip().replace(".", "", 1).isdigit()]
    return [(numbers[i + gpus - 1][0], [value / MIB_PER_GIB for _, value in numbers[i : i + gpus]])
            for i in range(0, len(numbers) - gpus + 1, gpus)]
