"""SDPA for one-token decode steps of grouped-query models, without copying the KV cache per head.

Why: transformers' SDPA path before 5.23 (and 5.23+ under torch.compile) expands every layer's keys
and values to all query heads (`repeat_kv`) whenever a padding mask is passed, as the engine's
left-padded batches always do. At workload R's shape (Qwen2.5-1.5B, 12 query heads on 2 KV heads,
512 rows, 1,280-token static cache) those copies took 80% of a decode step's GPU time: 2.1 ms per
layer out of 146 ms a step (benchmarks/decode_kernels.py, docs/throughput.md). For a single query
token the copy is unnecessary: the G query heads that share a key/value head can be read as G query
positions of that head, under the same mask, which is the same arithmetic with no copy (transformers
5.23 added the same rewrite as `pack_gqa`).

`install()` puts `sdpa_attention` under transformers' "sdpa" name: every other call (prefill, training,
masks of other shapes, options SDPA does not take) goes to transformers' own function unchanged.
"""

from __future__ import annotations

import functools
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

_FALLBACK_OPTIONS = ("softcap", "position_bias", "sinks", "s_aux")  # what plain SDPA cannot express


@functools.cache
def _transformers_sdpa():
    """Resolved once: the function runs per layer per decode step."""
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    return sdpa_attention_forward


def _takes_grouped_path(module: nn.Module, query: torch.Tensor, key: torch.Tensor,
                        attention_mask: torch.Tensor | None, kwargs: dict[str, Any]) -> bool:
    """A one-token query of a grouped-query layer under a mask shared by, or given per, query head.
    Without a mask transformers already runs grouped heads copy-free (SDPA's enable_gqa)."""
    groups = getattr(module, "num_key_value_groups", 1)
    heads = query.shape[1]
    return (attention_mask is not None and groups > 1 and query.shape[2] == 1 and key.shape[1] * groups == heads
            and attention_mask.shape[1] in (1, heads) and not kwargs.get("output_attentions")
            and all(kwargs.get(name) is None for name in _FALLBACK_OPTIONS))


def sdpa_attention(module: nn.Module, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                   attention_mask: torch.Tensor | None, dropout: float = 0.0, scaling: float | None = None,
                   **kwargs: Any) -> tuple[torch.Tensor, None]:
    """(B, H, 1, d) query on (B, H_kv, L, d) keys/values -> (B, 1, H, d_v), as transformers' SDPA returns."""
    if not _takes_grouped_path(module, query, key, attention_mask, kwargs):
        return _transformers_sdpa()(module, query, key, value, attention_mask, dropout=dropout, scaling=scaling, **kwargs)
    batch, heads, _, _ = query.shape
    groups = module.num_key_value_groups
    kv_heads = key.shape[1]
    grouped = query.reshape(batch, kv_heads, groups, query.shape[-1])  # head h = kv * groups + g, as repeat_kv
    if attention_mask.shape[1] == heads:
        attention_mask = attention_mask.reshape(attention_mask.shape[0], kv_heads, groups, attention_mask.shape[-1])
    out = F.scaled_dot_product_attention(grouped, key, value, attn_mask=attention_mask, dropout_p=dropout, scale=scaling)
    return out.reshape(out.shape[0], heads, 1, value.shape[-1]).transpose(1, 2).contiguous(), None


def install() -> None:
    """Serve transformers' "sdpa" attention through `sdpa_attention` in this process (idempotent)."""
    from transformers import AttentionInterface

    AttentionInterface.register("sdpa", sdpa_attention)
