"""Grouped-query decode attention: the same numbers as the per-head computation, without its copies."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from grpo import decode_attention
from grpo.rollout.hf_engine import cache_kwarg


def reference(query, key, value, mask, scale):
    """Per query head, written out: keys/values repeated to every head, softmax over allowed keys."""
    groups = query.shape[1] // key.shape[1]
    key, value = key.repeat_interleave(groups, dim=1), value.repeat_interleave(groups, dim=1)
    scores = (query @ key.transpose(-1, -2)) * scale
    scores = scores.masked_fill(~mask, float("-inf"))
    return (scores.softmax(-1) @ value).transpose(1, 2)


class _Layer(nn.Module):
    num_key_value_groups = 3


@pytest.mark.parametrize("mask_heads", [1, 6])
def test_one_token_matches_per_head_attention(mask_heads, monkeypatch):
    torch.manual_seed(0)
    query, key, value = torch.randn(4, 6, 1, 8), torch.randn(4, 2, 10, 8), torch.randn(4, 2, 10, 5)
    mask = torch.rand(4, mask_heads, 1, 10) > 0.3
    mask[..., -1] = True  # every row keeps its own token
    monkeypatch.setattr(decode_attention, "_transformers_sdpa", lambda: pytest.fail("took the copying path"))
    out, _ = decode_attention.sdpa_attention(_Layer(), query, key, value, mask, scaling=0.5)
    assert out.shape == (4, 1, 6, 5)
    torch.testing.assert_close(out, reference(query, key, value, mask.expand(4, 6, 1, 10), 0.5), atol=1e-5, rtol=1e-5)


def test_other_calls_go_to_transformers(monkeypatch):
    calls = []
    monkeypatch.setattr(decode_attention, "_transformers_sdpa", lambda: lambda *a, **k: calls.append(a[1].shape) or ("sdpa", None))
    layer = _Layer()
    decode_attention.sdpa_attention(layer, torch.randn(1, 6, 3, 8), torch.randn(1, 2, 3, 8), torch.randn(1, 2, 3, 8), None)  # prefill
    mask = torch.ones(1, 1, 1, 3, dtype=torch.bool)
    decode_attention.sdpa_attention(layer, torch.randn(1, 6, 1, 8), torch.randn(1, 2, 3, 8), torch.randn(1, 2, 3, 8), mask,
                                    softcap=30.0)
    decode_attention.sdpa_attention(layer, torch.randn(1, 6, 1, 8), torch.randn(1, 2, 3, 8), torch.randn(1, 2, 3, 8), None)  # no mask
    layer.num_key_value_groups = 1
    decode_attention.sdpa_attention(layer, torch.randn(1, 2, 1, 8), torch.randn(1, 2, 3, 8), torch.randn(1, 2, 3, 8), mask)
    assert len(calls) == 4


def test_qwen2_decode_step_equals_eager_attention(monkeypatch):
    """A left-padded batch through a GQA model: prefill, then one decode step with the padding mask,
    against the same weights under transformers' eager attention (its own repeat_kv and softmax)."""
    from transformers import DynamicCache, Qwen2Config, Qwen2ForCausalLM

    decode_attention.install()
    config = dict(hidden_size=48, num_hidden_layers=2, num_attention_heads=6, num_key_value_heads=2,
                  intermediate_size=64, vocab_size=50)
    torch.manual_seed(0)
    model = Qwen2ForCausalLM(Qwen2Config(**config, attn_implementation="sdpa")).eval()
    eager = Qwen2ForCausalLM(Qwen2Config(**config, attn_implementation="eager")).eval()
    eager.load_state_dict(model.state_dict())
    ids = torch.randint(3, 50, (3, 7))
    mask = torch.ones(3, 7, dtype=torch.long)
    mask[0, :3] = 0  # left padding
    mask[1, :1] = 0
    positions = (mask.cumsum(1) - 1).clamp(min=0)
    grouped_calls = []
    original = decode_attention.sdpa_attention

    def spy(module, query, *args, **kwargs):
        grouped_calls.append(query.shape[2] == 1)
        return original(module, query, *args, **kwargs)

    monkeypatch.setitem(__import__("transformers").AttentionInterface._global_mapping, "sdpa", spy)
    kwarg = cache_kwarg(model)
    logits = {}
    with torch.no_grad():
        for name, net in (("grouped", model), ("eager", eager)):
            cache = DynamicCache()
            net(input_ids=ids, attention_mask=mask, position_ids=positions, **{kwarg: cache}, use_cache=True)
            step_mask = torch.cat([mask, torch.ones(3, 1, dtype=torch.long)], 1)
            out = net(input_ids=torch.tensor([[5], [6], [7]]), attention_mask=step_mask,
                      position_ids=positions[:, -1:] + 1, **{kwarg: cache}, use_cache=True)
            logits[name] = out.logits[:, -1]
    assert grouped_calls.count(True) == 2  # the decode step's two layers took the grouped path
    torch.testing.assert_close(logits["grouped"], logits["eager"], atol=1e-5, rtol=1e-4)
