"""Token sampling on the device, without host syncs: temperature, top-p, seeded generator."""

from __future__ import annotations

import torch


def top_p_filter(logits: torch.Tensor, top_p: float) -> torch.Tensor:
    """Set logits outside the smallest set of mass >= top_p to -inf: (B, V) -> (B, V)."""
    if top_p >= 1.0:
        return logits
    sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
    probs = torch.softmax(sorted_logits, dim=-1)
    # a token is dropped when the mass before it already reaches top_p; the top token never is
    drop_sorted = (probs.cumsum(dim=-1) - probs) >= top_p
    drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
    return logits.masked_fill(drop, float("-inf"))


def sample_tokens(
    logits: torch.Tensor, temperature: float, top_p: float, generator: torch.Generator | None,
    uniforms: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Sample one token per row: logits (B, V) -> tokens (B,), log-probs (B,) under softmax(logits/T).

    Inverse-CDF sampling: row b takes the first token whose cumulative probability exceeds
    uniforms[b]. The engine draws one uniform per original row and step and hands each live row
    its own, so removing finished rows from the batch never changes what the others sample.
    Without `uniforms`, B are drawn from `generator`. temperature 0 is greedy; its log-prob is
    under the untempered distribution.
    """
    logits = logits.float()
    if temperature > 0:
        logits = logits / temperature
    logprobs = torch.log_softmax(logits, dim=-1)
    if temperature <= 0:
        tokens = logits.argmax(dim=-1)
    else:
        if uniforms is None:
            uniforms = torch.rand(logits.shape[0], generator=generator, device=logits.device)
        cdf = torch.softmax(top_p_filter(logits, top_p), dim=-1).cumsum(dim=-1)  # (B, V)
        # scaled by the row's total mass (rounding leaves it a hair from 1); `right` never picks a
        # token of zero probability
        target = (uniforms * cdf[:, -1]).unsqueeze(1)
        tokens = torch.searchsorted(cdf, target, right=True).squeeze(1).clamp(max=logits.shape[1] - 1)
    return tokens, logprobs.gather(1, tokens[:, None]).squeeze(1)
