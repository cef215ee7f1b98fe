"""The asynchronous-rollout producer: order, the staleness bound, errors, and the staleness metric."""

from __future__ import annotations

import threading
import time

import pytest

from grpo.prefetch import Prefetcher, staleness
from grpo.rollout.base import Completion


def test_steps_come_in_order_and_never_more_than_k_updates_ahead():
    seen = {}
    lock = threading.Lock()

    def produce(step):
        with lock:
            seen[step] = prefetch_state["trained"]
        time.sleep(0.01)
        return (f"rollout {step}", {})

    prefetch_state = {"trained": 0}
    prefetch = Prefetcher(produce, 0, 6, max_staleness=2)
    for step in range(6):
        assert prefetch.get(step) == (f"rollout {step}", {})
        time.sleep(0.2)  # "training" (20x a production): the producer runs ahead meanwhile
        prefetch_state["trained"] = step + 1
        prefetch.trained(step + 1)
    # step t was produced when at least t - 2 updates were done, never earlier
    assert all(trained >= step - 2 for step, trained in seen.items()), seen
    assert seen[2] == 0  # ... and it did run ahead: steps 0-2 all from the initial weights


def test_a_resumed_run_starts_where_it_left_off():
    prefetch = Prefetcher(lambda step: (step, {}), 5, 8, max_staleness=1)
    for step in range(5, 8):
        assert prefetch.get(step) == (step, {})
        prefetch.trained(step + 1)


def test_the_producers_error_reaches_the_training_loop():
    def produce(step):
        if step == 1:
            raise RuntimeError("worker died")
        return (step, {})

    prefetch = Prefetcher(produce, 0, 3, max_staleness=1)
    assert prefetch.get(0) == (0, {})
    prefetch.trained(1)
    with pytest.raises(RuntimeError, match="worker died"):
        prefetch.get(1)


def test_close_stops_a_waiting_producer():
    calls = []
    prefetch = Prefetcher(lambda step: calls.append(step) or (step, {}), 0, 10, max_staleness=1)
    prefetch.get(0)
    prefetch.close()
    time.sleep(0.05)
    assert len(calls) <= 2  # steps 0 and 1 only: step 2 would need one update


def test_staleness_is_the_oldest_samples_lag():
    def completion(version):
        return Completion(0, [1], [2], "x", [0.0], "stop", extra={"weights_version": version})

    assert staleness([completion(3), completion(2)], 4) == 2.0
    assert staleness([Completion(0, [1], [2], "x", [0.0], "stop")], 4) == 0.0


def test_max_staleness_must_be_positive():
    with pytest.raises(ValueError):
        Prefetcher(lambda step: (step, {}), 0, 1, max_staleness=0)
