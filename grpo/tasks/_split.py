"""Stable hash partition of a problem space into train and test splits."""

from __future__ import annotations

import hashlib

TEST_BUCKETS = 10  # one problem in ten belongs to the test split


def split_of(key: str) -> str:
    """'test' or 'train' for a problem, decided by a hash that no seed or Python run changes."""
    digest = hashlib.sha256(key.encode("utf-8")).digest()
    return "test" if digest[0] % TEST_BUCKETS == 0 else "train"


def check_split(split: str) -> None:
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
