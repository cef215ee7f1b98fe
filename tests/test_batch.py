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
