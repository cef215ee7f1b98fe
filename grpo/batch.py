"""Turn sampled completions into the padded tensors the trainer consumes.

Layout of every row: left-padded prompt (width P) then right-padded completion (width C), so
all completions start at column P and a micro-batch can be trimmed on both sides.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from grpo.rollout.base import Completion


@dataclass
class RolloutBatch:
    """B completions; tensors on CPU. Shapes: input_ids, attention_mask (B, P + C); others below."""

    input_ids: torch.Tensor  # (B, P + C) long
    attention_mask: torch.Tensor  # (B, P + C) long
    completion_mask: torch.Tensor  # (B, C) float32, 1 on the policy's completion tokens (0: padding, env turns)
    prompt_lengths: torch.Tensor  # (B,) long
    completion_lengths: torch.Tensor  # (B,) long
    sampler_logprobs: torch.Tensor  # (B, C) float32
    truncated: torch.Tensor  # (B,) bool, finish_reason == "length"
    advantages: torch.Tensor | None = None  # (B,) float32
    ref_logprobs: torch.Tensor | None = None  # (B, C) float32

    @property
    def prompt_width(self) -> int:
        return self.input_ids.shape[1] - self.completion_mask.shape[1]

    def __len__(self) -> int:
        return self.input_ids.shape[0]

    def select(self, rows: torch.Tensor) -> "RolloutBatch":
        """Rows `rows` (1-D long), trimmed to their own longest prompt and completion."""
        prompt_keep = int(self.prompt_lengths[rows].max())
        completion_keep = max(int(self.completion_lengths[rows].max()), 1)
        start, stop = self.prompt_width - prompt_keep, self.prompt_width + completion_keep

        def take(tensor: torch.Tensor | None, columns: slice | None = None) -> torch.Tensor | None:
            if tensor is None:
                return None
            picked = tensor[rows]
            return picked[:, columns] if columns is not None else picked

        return RolloutBatch(
            input_ids=take(self.input_ids, slice(start, stop)),
            attention_mask=take(self.attention_mask, slice(start, stop)),
            completion_mask=take(self.completion_mask, slice(0, completion_keep)),
            prompt_lengths=take(self.prompt_lengths),
            completion_lengths=take(self.completion_lengths),
            sampler_logprobs=take(self.sampler_logprobs, slice(0, completion_keep)),
            truncated=take(self.truncated),
            advantages=take(self.advantages),
            ref_logprobs=take(self.ref_logprobs, slice(0, completion_keep)),
        )


    def split(self, rows: torch.Tensor, max_rows: int | None, max_tokens: int | None,
              packed: bool = False) -> list[torch.Tensor]:
        """Micro-batches of `rows` for forward/backward.

        max_tokens unset: consecutive chunks of max_rows rows (the order is kept). Set: rows sorted
        by length and packed greedily so that rows x (longest prompt + longest completion) <=
        max_tokens (and at most max_rows rows): on uneven completions the padded tokens shrink to
        near the real ones. `packed` (trainer.packing: a micro-batch is one padding-free sequence):
        the budget counts real tokens, the sum of the rows' lengths. The loss normalisers are the
        minibatch's totals, so the partition never changes the update, only its cost.
        """
        if max_tokens is None:
            step = max_rows or len(rows)
            return [rows[start : start + step] for start in range(0, len(rows), step)]
        prompts, completions = self.prompt_lengths[rows].tolist(), self.completion_lengths[rows].tolist()
        order = sorted(range(len(rows)), key=lambda i: (prompts[i] + completions[i]), reverse=True)
        parts: list[list[int]] = []
        width_p = width_c = 0
        real = 0  # packed: the current micro-batch's real tokens
        for i in order:
            p, c = max(width_p, prompts[i]), max(width_c, max(completions[i], 1))
            current = parts[-1] if parts else None
            size = real + prompts[i] + completions[i] if packed else (len(current or []) + 1) * (p + c)
            fits = current is not None and size <= max_tokens and (max_rows is None or len(current) < max_rows)
            if fits:
                current.append(i)
                width_p, width_c, real = p, c, size if packed else 0
            else:
                parts.append([i])
                width_p, width_c, real = prompts[i], max(completions[i], 1), prompts[i] + completions[i]
        return [rows[torch.tensor(part, dtype=torch.long)] for part in parts]


def build_batch(completions: list[Completion], pad_id: int) -> RolloutBatch:
    count = len(completions)
    prompt_width = max(len(c.prompt_ids) for c in completions)
    completion_width = max(max(len(c.completion_ids) for c in completions), 1)
    input_ids = torch.full((count, prompt_width + completion_width), pad_id, dtype=torch.long)
    attention_mask = torch.zeros_like(input_ids)
    completion_mask = torch.zeros((count, completion_width), dtype=torch.float32)
    sampler_logprobs = torch.zeros((count, completion_width), dtype=torch.float32)
    for row, completion in enumerate(completions):
        p, c = len(completion.prompt_ids), len(completion.completion_ids)
        input_ids[row, prompt_width - p : prompt_width] = torch.tensor(completion.prompt_ids, dtype=torch.long)
        attention_mask[row, prompt_width - p : prompt_width + c] = 1
        if c:
            input_ids[row, prompt_width : prompt_width + c] = torch.tensor(completion.completion_ids, dtype=torch.long)
            completion_mask[row, :c] = 1.0 if completion.mask is None else torch.tensor(completion.mask, dtype=torch.float32)
            sampler_logprobs[row, :c] = torch.tensor(completion.logprobs, dtype=torch.float32)
    return RolloutBatch(
        input_ids=input_ids,
        attention_mask=attention_mask,
        completion_mask=completion_mask,
        prompt_lengths=torch.tensor([len(c.prompt_ids) for c in completions], dtype=torch.long),
        completion_lengths=torch.tensor([len(c.completion_ids) for c in completions], dtype=torch.long),
        sampler_logprobs=sampler_logprobs,
        truncated=torch.tensor([c.finish_reason == "length" for c in completions], dtype=torch.bool),
    )
