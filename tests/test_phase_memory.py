"""Per-phase peak memory (grpo/phase_memory.py) against a fake allocator whose peaks are set by hand."""

from grpo.phase_memory import GIB, PhasePeaks


class FakeAllocator:
    """Tracks a peak like torch.cuda's: the highest `allocated` since the last reset."""

    def __init__(self):
        self.allocated = self.peak = 0

    def set(self, allocated: int) -> None:
        self.allocated = allocated
        self.peak = max(self.peak, allocated)

    def reset(self) -> None:
        self.peak = self.allocated  # as reset_peak_memory_stats: the peak restarts at what is held


def test_each_phase_reports_its_own_peak_and_the_step_the_highest():
    memory = FakeAllocator()
    peaks = PhasePeaks(lambda: memory.peak, memory.reset)
    memory.set(10 * GIB), memory.set(30 * GIB), memory.set(12 * GIB)  # generation: KV caches come and go
    peaks.end_phase("generate")
    memory.set(20 * GIB), memory.set(14 * GIB)  # the update
    peaks.end_phase("train")
    assert peaks.metrics() == {"memory/generate_peak_gib": 30.0, "memory/train_peak_gib": 20.0,
                               "memory/peak_gib": 30.0}


def test_memory_held_from_the_last_phase_counts_in_the_next():
    memory = FakeAllocator()
    peaks = PhasePeaks(lambda: memory.peak, memory.reset)
    memory.set(40 * GIB)  # generation leaves 40 GiB allocated (caches kept) and the update adds none
    peaks.end_phase("generate")
    peaks.end_phase("train")
    assert peaks.metrics()["memory/train_peak_gib"] == 40.0


def test_a_step_without_generation_and_the_next_step_start_afresh():
    memory = FakeAllocator()
    peaks = PhasePeaks(lambda: memory.peak, memory.reset)
    memory.set(8 * GIB), peaks.end_phase("generate"), peaks.end_phase("generate")  # two calls: the higher stays
    memory.set(2 * GIB), peaks.end_phase("train")
    assert peaks.metrics()["memory/generate_peak_gib"] == 8.0
    memory.set(5 * GIB), peaks.end_phase("train")  # rollouts on their own GPUs: no generate phase here
    assert peaks.metrics() == {"memory/train_peak_gib": 5.0, "memory/peak_gib": 5.0}
