"""Asynchronous rollouts (`rollout.max_staleness: k`): generation for the next steps runs while the
learner trains, on separate rollout workers.

A producer thread generates the rollouts of step t as soon as the workers hold a policy at most k
updates old (t - k updates synced); the training loop takes them in order. The weights of an
update reach a worker between two of its generations, never during one: a Ray actor runs one call
at a time, so `load_weights` waits for the generation in flight. Each completion records the
weights version it was sampled with; the batch's staleness is logged, and the learner corrects
the lag with the sampler's log-probs (algorithm.sampler_correction: tis or mis, required).

Colocated runs stay synchronous: there the engine and the learner share one device and one
process, so generation cannot overlap training.
"""

from __future__ import annotations

import queue
import threading
from typing import Any, Callable

Produced = tuple[Any, dict[str, float]]


class Prefetcher:
    """Runs `produce(step)` for steps [start, stop) in a thread, at most `max_staleness` ahead of
    the updates reported through `trained()`. `get(step)` returns that step's result in order and
    re-raises, in the caller's thread, whatever the producer raised."""

    def __init__(self, produce: Callable[[int], Produced], start: int, stop: int, max_staleness: int):
        if max_staleness < 1:
            raise ValueError("max_staleness must be >= 1 for asynchronous rollouts")
        self.produce, self.stop_step, self.max_staleness = produce, stop, max_staleness
        self._trained = start
        self._condition = threading.Condition()
        self._results: queue.Queue[tuple[int, Produced | None, BaseException | None]] = queue.Queue()
        self._closed = False
        self._thread = threading.Thread(target=self._run, args=(start,), name="grpo-rollout-prefetch", daemon=True)
        self._thread.start()

    def trained(self, updates: int) -> None:
        """The workers now hold the policy after `updates` updates: generation may run further ahead."""
        with self._condition:
            self._trained = updates
            self._condition.notify_all()

    def get(self, step: int) -> Produced:
        produced_step, result, error = self._results.get()
        if error is not None:
            raise error
        assert produced_step == step and result is not None, (produced_step, step)
        return result

    def close(self) -> None:
        with self._condition:
            self._closed = True
            self._condition.notify_all()

    def _run(self, start: int) -> None:
        for step in range(start, self.stop_step):
            with self._condition:
                # the policy for step t may be k updates old: wait for update t - k
                self._condition.wait_for(lambda: self._closed or self._trained >= step - self.max_staleness)
                if self._closed:
                    return
            try:
                result = self.produce(step)
            except BaseException as err:  # noqa: BLE001 - handed to the training loop
                self._results.put((step, None, err))
                return
            self._results.put((step, result, None))


def staleness(completions: list[Any], current_version: int) -> float:
    """How many updates behind the learner the batch's oldest sample is (0: on-policy)."""
    versions = [c.extra["weights_version"] for c in completions if "weights_version" in c.extra]
    return float(current_version - min(versions)) if versions else 0.0
