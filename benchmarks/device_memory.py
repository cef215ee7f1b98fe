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
from datetime import datetime

MIB_PER_GIB = 1024


def peaks_from_samples(text: str, gpus: int) -> list[float]:
    """nvidia-smi's `timestamp, memory.used` output (MiB; every interval one line per GPU, in index
    order) -> each GPU's highest sample in GiB. Lines that are not readings (a driver warning) are
    skipped; a line of the number alone is read too."""
    numbers = [value for _, value in _readings(text.splitlines())]
    peaks = [0.0] * gpus if numbers else []
    for index, value in enumerate(numbers):
        peaks[index % gpus] = max(peaks[index % gpus], value / MIB_PER_GIB)
    return peaks


def process_peaks(text: str) -> dict[str, float]:
    """nvidia-smi's `pid, process_name, used_memory` output (MiB) -> {"pid name": highest GiB}.

    Why per process: the device peak takes in every process's CUDA context and allocator cache, so
    a row can sit above a peer's on the device and under it on torch's count (the small workload,
    2026-12-06: 11.7 against 11.1 GiB device, 8.81 against 8.95 torch). The split says whether the
    gap is a helper process (the driver, a Ray worker) holding a context, or the learner itself.
    Lines that are not readings ("[N/A]" where the driver hides a process's usage) are skipped.
    One entry per pid: Ray retitles a worker with the method it runs ("ray::Learner.generate",
    "ray::Learner.train_step", and "[No data]" between readings), so the pid is named by its
    shortest title ("ray::Learner")."""
    peaks: dict[str, float] = {}
    names: dict[str, set[str]] = {}
    for line in text.splitlines():
        fields = [field.strip() for field in line.split(",")]
        if len(fields) < 3 or not fields[0].isdigit() or not fields[-1].replace(".", "", 1).isdigit():
            continue
        pid, name = fields[0], ",".join(fields[1:-1])
        peaks[pid] = max(peaks.get(pid, 0.0), float(fields[-1]) / MIB_PER_GIB)
        names.setdefault(pid, set())
        if name and name != "[No data]":
            names[pid].add(name)
    return {f"{pid} {min(names[pid], key=lambda n: (len(n), n)) if names[pid] else '?'}": gib
            for pid, gib in peaks.items()}


def _readings(lines: list[str]) -> list[tuple[float | None, float]]:
    """(wall time from nvidia-smi's own timestamp, or None; MiB) for each line that is a reading.

    Why nvidia-smi's timestamp and not when the line was read: piped, its output may arrive in
    blocks, so the time of reading can be seconds late."""
    readings = []
    for line in lines:
        fields = [field.strip() for field in line.split(",")]
        if not fields[-1].replace(".", "", 1).isdigit():
            continue
        stamp = None
        if len(fields) > 1:
            try:  # "2026/12/06 03:50:12.345", the machine's local time, as time.time() counts it
                stamp = datetime.strptime(fields[0], "%Y/%m/%d %H:%M:%S.%f").timestamp()
            except ValueError:
                pass
        readings.append((stamp, float(fields[-1])))
    return readings


class DevicePeak:
    """Context manager: an `nvidia-smi --query-gpu=timestamp,memory.used --loop-ms=interval_ms` process runs while
    the block runs; `peaks_gib` is then each GPU's highest sample. Without nvidia-smi there are no
    samples and peaks_gib stays []."""

    QUERY = ("nvidia-smi", "--query-gpu=timestamp,memory.used", "--format=csv,noheader,nounits")
    APPS_QUERY = ("nvidia-smi", "--query-compute-apps=pid,process_name,used_memory", "--format=csv,noheader,nounits")

    def __init__(self, interval_ms: int = 50):
        self.interval_ms = interval_ms
        self.peaks_gib: list[float] = []
        self._process: subprocess.Popen | None = None
        self._reader: threading.Thread | None = None
        self._lines: list[tuple[float, str]] = []  # (wall time read, nvidia-smi's line)
        self._gpus = 1
        self.samples: list[tuple[float, list[float]]] = []  # (wall time, GiB per GPU), one per interval
        self.process_peaks_gib: dict[str, float] = {}  # "pid name" -> its highest sample (`process_peaks`)
        self._apps: subprocess.Popen | None = None
        self._apps_reader: threading.Thread | None = None
        self._apps_lines: list[str] = []

    def __enter__(self) -> DevicePeak:
        if shutil.which("nvidia-smi") is None:
            return self
        once = subprocess.run(self.QUERY, capture_output=True, text=True, timeout=30, check=False).stdout
        self._gpus = max(1, len(_readings(once.splitlines())))
        self._process = subprocess.Popen([*self.QUERY, f"--loop-ms={self.interval_ms}"], stdout=subprocess.PIPE,
                                         stderr=subprocess.DEVNULL, text=True, start_new_session=True)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self._apps = subprocess.Popen([*self.APPS_QUERY, f"--loop-ms={self.interval_ms}"], stdout=subprocess.PIPE,
                                      stderr=subprocess.DEVNULL, text=True, start_new_session=True)
        self._apps_reader = threading.Thread(target=self._read_apps, daemon=True)
        self._apps_reader.start()
        return self

    def __exit__(self, *exc) -> None:
        if self._process is None:
            return
        for process, reader in ((self._process, self._reader), (self._apps, self._apps_reader)):
            if process is None:
                continue
            try:
                os.killpg(process.pid, signal.SIGTERM)  # the sampler and anything it started
            except ProcessLookupError:
                pass
            process.wait(timeout=10)
            if reader is not None:
                reader.join(timeout=10)
        self.process_peaks_gib = process_peaks("".join(self._apps_lines))
        self.peaks_gib = peaks_from_samples("".join(line for _, line in self._lines), self._gpus)
        self.samples = timed_samples(self._lines, self._gpus)

    def _read(self) -> None:
        for line in self._process.stdout:
            self._lines.append((time.time(), line))

    def _read_apps(self) -> None:
        for line in self._apps.stdout:
            self._apps_lines.append(line)

    def peaks_between(self, start: float, end: float) -> list[float]:
        """Each GPU's highest sample taken from `start` to `end` (wall times); [] if none."""
        inside = [gib for at, gib in self.samples if start <= at <= end]
        return [max(column) for column in zip(*inside)] if inside else []


def timed_samples(lines: list[tuple[float, str]], gpus: int) -> list[tuple[float, list[float]]]:
    """(time read, nvidia-smi line) pairs -> one (wall time, GiB per GPU) per interval, stamped with
    its last GPU's timestamp (the time it was read where the line has none). An interval cut short
    at the end is dropped."""
    numbers = [(stamp if stamp is not None else read, value)
               for read, line in lines for stamp, value in _readings([line])]
    return [(numbers[i + gpus - 1][0], [value / MIB_PER_GIB for _, value in numbers[i : i + gpus]])
            for i in range(0, len(numbers) - gpus + 1, gpus)]
