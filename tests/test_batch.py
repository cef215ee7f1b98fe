"""Rollout batch layout: left-padded prompts, right-padded completions, trimming by rows."""

import torch

from grpo.batch import build_batch
from grpo.rollout.base import Completion


def completions():
    return [
        Completion(0, [1, 2, 3], [4, 5], "a", [-0.1, -0.2], "stop"),
        Completion(0, [1], [6, 7, 8], "b", [-0.3, -0.4, -0.5], "length"),
    ]


def test_layout_and_masks():
    batch = build_batch(completions(), pad_id=0)
    assert batch.input_ids.tolist() == [[1, 2, 3, 4, 5, 0], [0, 0, 1, 6, 7, 8]]
    assert batch.attention_mask.tolist() == [[1, 1, 1, 1, 1, 0], [0, 0, 1, 1, 1, 1]]
    assert batch.completion_mask.tolist() == [[1, 1, 0], [1, 1, 1]]
    assert batch.sampler_logprobs[1].tolist() == [-0.3, -0.4, -0.5] or torch.allclose(batch.sampler_logprobs[1], torch.tensor([-0.3, -0.4, -0.5]))
    assert batch.truncated.tolist() == [False, True]
    assert batch.prompt_width == 3


def test_select_trims_both_sides():
    batch = build_batch(completions(), pad_id=0)
    batch.advantages = torch.tensor([1.0, -1.0])
    part = batch.select(torch.tensor([1]))
    assert part.input_ids.tolist() == [[1, 6, 7, 8]]
    assert part.completion_mask.tolist() == [[1, 1, 1]]
    assert part.advantages.tolist() == [-1.0]
    first = batch.select(torch.tensor([0]))
    assert first.input_ids.tolist() == [[1, 2, 3, 4, 5]] and first.completion_mask.tolist() == [[1, 1]]


def uneven():
    lengths = [9, 1, 7, 2, 8, 3]
    return build_batch([Completion(0, [1] * (1 + i % 2), list(range(2, 2 + n)), "", [0.0] * n, "stop")
                        for i, n in enumerate(lengths)], pad_id=0)


def test_split_by_rows_keeps_the_order():
    batch = uneven()
    parts = batch.split(torch.arange(6), max_rows=4, max_tokens=None)
    assert [p.tolist() for p in parts] == [[0, 1, 2, 3], [4, 5]]
    assert [p.tolist() for p in batch.split(torch.tensor([5, 1]), None, None)] == [[5, 1]]


def test_split_by_tokens_packs_similar_lengths_within_the_budget():
    batch = uneven()
    parts = batch.split(torch.arange(6), max_rows=None, max_tokens=20)
    assert sorted(i for p in parts for i in p.tolist()) == list(range(6))  # every row exactly once
    for part in parts:
        sub = batch.select(part)
        assert len(part) == 1 or sub.input_ids.numel() <= 20  # a row alone may exceed the budget
    # longest first: rows 0 (9+1 tokens) and 4 (8+1) share a micro-batch of 2 x 10 = 20 tokens
    assert parts[0].tolist() == [0, 4]
    padded = sum(batch.select(p).input_ids.numel() for p in parts)
    fixed = sum(batch.select(p).input_ids.numel() for p in batch.split(torch.arange(6), 2, None))
    assert padded < fixed
    assert all(len(p) <= 2 for p in batch.split(torch.arange(6), max_rows=2, max_tokens=1000))


def test_packed_split_budgets_real_tokens():
    batch = uneven()  # real lengths (prompt + completion): 10, 3, 8, 4, 9, 5
    parts = batch.split(torch.arange(6), max_rows=None, max_tokens=20, packed=True)
    # longest first: 10 + 9 = 19; 8 + 5 + 4 + 3 = 20 (padded, the second part would need 4 x 9 = 36)
    assert [p.tolist() for p in parts] == [[0, 4], [2, 5, 3, 1]]
    assert len(batch.split(torch.arange(6), max_rows=None, max_tokens=20)) > len(parts)
    assert [len(p) for p in batch.split(torch.arange(6), max_rows=2, max_tokens=20, packed=True)] == [2, 2, 2]
