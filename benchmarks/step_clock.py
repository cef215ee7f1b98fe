"""When each of our rows' steps, and their generate and train phases, ran on the wall clock.

Why: the device peak (benchmarks/device_memory.py) says how much of the GPU a row held, not in
which phase. On 2026-12-06 our 7B LoRA row's device peak sat 5.7 GiB above the learner's own
count and 2.4 GiB above the same row at a smaller micro-batch, with generation the larger phase
by torch's count: only the device samples lined up with the phases can say which one it was.
The trainer's metrics give each step's phase durations; the wall time at which a step's metrics
line appears gives where that step ended. A thread here watches metrics.jsonl for new lines, so
nothing in grpo/ changes for the benchmark.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path


class StepClock:
    """Context manager: while the block runs, notes the wall time at which each step's line first
    appears in `metrics_path` (polled every `poll_s`; a line is written right after its step
    ends, so that time is the step's end to within the poll interval)."""

    def __init__(self, metrics_path: Path, poll_s: float = 0.02):
        self.metrics_path = Path(metrics_path)
        self.poll_s = poll_s
        self.seen: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._offset = 0
        self._partial = ""

    def __enter__(self) -> StepClock:
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._read(time.time())  # lines written in the last poll interval

    def _watch(self) -> None:
        while not self._stop.wait(self.poll_s):
            self._read(time.time())

    def _read(self, now: float) -> None:
        try:
            with self.metrics_path.open() as handle:
                handle.seek(self._offset)
                text = handle.read()
                self._offset = handle.tell()
        except FileNotFoundError:
            return
        lines = (self._partial + text).split("\n")
        self._partial = lines.pop()  # a line still being written
        for line in lines:
            if line.strip():
                record = json.loads(line)
                if "time/step" in record:
                    self.seen.setdefault(int(record["step"]), now)


def phase_windows(records: list[dict], seen: dict[int, float]) -> list[dict[str, list[float]]]:
    """Each step's generate and train phase as [start, end] wall times, from its metrics record
    (durations) and the time its line was seen (its end). The trainer runs a synchronous step as
    collect (generation first, then rewards), train (forward, backward and the optimizer step),
    then the weight sync; an asynchronous step's generation overlaps the previous training, so
    only its train window is given. Steps whose line was not seen are left out."""
    windows = []
    for record in records:
        end = seen.get(int(record["step"]))
        if end is None or "time/step" not in record:
            continue
        start = end - record["time/step"]
        train_end = end - record.get("time/sync", 0.0)
        window = {"train": [train_end - record["time/train"], train_end]}
        if "time/generate" in record and "time/rollout_wait" not in record:
            window["generate"] = [start, start + record["time/generate"]]
        windows.append(window)
    return windows
