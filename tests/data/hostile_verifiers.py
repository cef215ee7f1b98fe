"""Verifiers that misbehave, for the runner's robustness tests."""

import os
import time

from rewards import verifier


def sleeps_on_seven(sample):
    if "7" in sample.completion:
        time.sleep(3600)
    return 1.0


def raises_on_seven(sample):
    if "7" in sample.completion:
        raise ZeroDivisionError("seven is bad luck")
    return 1.0


def dies_on_seven(sample):
    if "7" in sample.completion:
        os._exit(3)
    return 1.0


def always_raises(sample):
    raise KeyError("missing column 'tests'")


@verifier(batched=True)
def slow_batch(samples):
    time.sleep(3600)


def prints_a_lot(sample):
    print("noise " * 1000)
    return 0.5


def sleeps_sometimes(sample):
    """Hangs on about a third of completions (by length), deterministically."""
    if len(sample.completion) % 3 == 0:
        time.sleep(3600)
    return 1.0


def nan_on_seven(sample):
    """NaN for completions containing a 7, -inf for those containing a 5 (a third of digits-ish)."""
    if "7" in sample.completion:
        return float("nan")
    if "5" in sample.completion:
        return float("-inf")
    return 1.0


def nan_on_a_third(sample):
    """A plugin bug that scores NaN on roughly a third of the samples (by the completion's hash)."""
    return float("nan") if sum(map(ord, sample.completion)) % 3 == 0 else 1.0


def returns_a_string(sample):
    return "high"
