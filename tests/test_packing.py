"""Padding-free micro-batches (grpo/packing.py): the packed layout by hand, and the packed forward's
log-probs and gradients against the padded path (policy.completion_logprobs) on a tiny Qwen2."""

import pytest
import torch

from grpo.packing import ATTENTION, enable, pack_rows, packed_completion_logprobs
from grpo.policy import completion_logprobs


def test_pack_rows_by_hand():
    pad = 0
    # row 0: 2 prompt tokens (left-padded by 1) + 2 completion tokens; row 1: 3 prompt + 1 completion (+1 pad)
    ids = torch.tensor([[pad, 11, 12, 13, 14], [21, 22, 23, 24, pad]])
    mask = torch.tensor([[0, 1, 1, 1, 1], [1, 1, 1, 1, 0]])
    packed = pack_rows(ids, mask)
    assert packed.input_ids.tolist() == [[11, 12, 13, 14, 21, 22, 23, 24]]
    assert packed.position_ids.tolist() == [[0, 1, 2, 3, 0, 1, 2, 3]]
    assert packed.cu_seq_lens.tolist() == [0, 4, 8] and packed.max_length == 4
    assert packed.starts.tolist() == [1, 0] and packed.offsets.tolist() == [0, 4]


def test_rows_with_holes_are_refused():
    with pytest.raises(ValueError, match="contiguous"):
        pack_rows(torch.ones(1, 4, dtype=torch.long), torch.tensor([[1, 0, 1, 1]]))


def _model_and_batch():
    from transformers import Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(0)
    config = Qwen2Config(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
                         attn_implementation="sdpa")
    model = Qwen2ForCausalLM(config)
    prompts, completions, width_p, width_c = [[5, 6, 7], [8, 9], [10, 11, 12, 13]], [[20, 21], [22, 23, 24, 25], [26]], 4, 4
    ids = torch.zeros(3, width_p + width_c, dtype=torch.long)
    mask = torch.zeros_like(ids)
    for row, (p, c) in enumerate(zip(prompts, completions)):
        ids[row, width_p - len(p):width_p], mask[row, width_p - len(p):width_p] = torch.tensor(p), 1
        ids[row, width_p:width_p + len(c)], mask[row, width_p:width_p + len(c)] = torch.tensor(c), 1
    return model, ids, mask, width_c


def test_packed_logprobs_and_gradients_equal_the_padded_path():
    model, ids, mask, width_c = _model_and_batch()
    real = mask[:, -width_c:].bool()
    padded, _ = completion_logprobs(model, ids, mask, width_c, temperature=0.7)
    padded[real].sum().backward()
    reference = {name: p.grad.clone() for name, p in model.named_parameters()}
    model.zero_grad()
    enable(model)
    assert model.config._attn_implementation == ATTENTION
    packed, _ = packed_completion_logprobs(model, ids, mask, width_c, temperature=0.7)
    torch.testing.assert_close(packed[real], padded[real], rtol=1e-5, atol=1e-5)
    assert bool((packed[~real] == 0).all())
    packed[real].sum().backward()
    for name, p in model.named_parameters():
        torch.testing.assert_close(p.grad, reference[name], rtol=1e-4, atol=1e-6, msg=name)


def test_an_enabled_model_still_runs_unpacked_forwards_as_sdpa():
    model, ids, mask, width_c = _model_and_batch()
    before, _ = completion_logprobs(model, ids, mask, width_c)
    enable(model)
    after, _ = completion_logprobs(model, ids, mask, width_c)  # no cu_seq_lens: the padded mask path
    torch.testing.assert_close(after, before)


def test_entropy_matches_too():
    model, ids, mask, width_c = _model_and_batch()
    real = mask[:, -width_c:].bool()
    with torch.no_grad():
        _, padded = completion_logprobs(model, ids, mask, width_c, with_entropy=True)
        enable(model)
        _, packed = packed_completion_logprobs(model, ids, mask, width_c, with_entropy=True)
    torch.testing.assert_close(packed[real], padded[real], rtol=1e-5, atol=1e-5)


def _rowwise_causal(q, k, v, cu, scale):
    bounds = cu.tolist()
    return torch.cat([
        torch.nn.functional.scaled_dot_product_attention(
            q[s:e].transpose(0, 1), k[s:e].transpose(0, 1), v[s:e].transpose(0, 1), is_causal=True, scale=scale
        ).transpose(0, 1)
        for s, e in zip(bounds[:-1], bounds[1:])
    ])


@pytest.mark.parametrize("release", ["is_causal, no scale", "window_size and scale"])
def test_the_cuda_kernel_adapter_speaks_both_signatures(monkeypatch, release):
    """torch's varlen_attn changed its signature between releases; the adapter must give causal
    per-row attention with the model's scale through either (a stand-in kernel checks the call)."""
    import torch.nn.attention.varlen as varlen_module

    from grpo.packing import _cuda_varlen

    calls = []
    if release == "is_causal, no scale":
        def fake(query, key, value, cu_seq_q, cu_seq_k, max_q, max_k, is_causal=False, return_aux=None):
            calls.append(is_causal)
            assert is_causal and max_q == max_k == 3
            return _rowwise_causal(query, key, value, cu_seq_q, None)
    else:
        def fake(query, key, value, cu_seq_q, cu_seq_k, max_q, max_k, *, return_aux=None, scale=None,
                 window_size=(-1, -1), enable_gqa=False):
            calls.append(window_size)
            assert window_size == (-1, 0) and cu_seq_q.dtype == torch.int32
            return _rowwise_causal(query, key, value, cu_seq_q, scale)
    monkeypatch.setattr(varlen_module, "varlen_attn", fake)
    _cuda_varlen.cache_clear()  # the adapter is built once per process; build it for the stand-in
    torch.manual_seed(0)
    q, k, v = (torch.randn(5, 2, 8) for _ in range(3))
    cu = torch.tensor([0, 3, 5])
    try:
        out = _cuda_varlen()(q, k, v, cu, 3, 0.2)  # not the default 1/sqrt(8)
    finally:
        _cuda_varlen.cache_clear()  # later tests get the real kernel's adapter again
    torch.testing.assert_close(out, _rowwise_causal(q, k, v, cu, 0.2))
    assert len(calls) == 1


def test_narrower_value_heads_reach_the_kernel_padded(monkeypatch):
    """MLA (DeepSeek-V3) has value heads narrower than query/key heads: the kernel gets them zero-padded
    to one head size and the output is cut back, equal to attention with the narrow values."""
    import grpo.packing as packing

    seen = []

    def kernel(q, k, v, cu, max_len, scale):
        seen.append(v.shape[-1])
        assert q.shape[-1] == k.shape[-1] == v.shape[-1]
        return _rowwise_causal(q, k, v, cu, scale)

    monkeypatch.setattr(packing, "_kernel_for", lambda q: kernel)
    torch.manual_seed(0)
    query, key = torch.randn(1, 2, 5, 12), torch.randn(1, 2, 5, 12)
    value = torch.randn(1, 2, 5, 8)
    cu = torch.tensor([0, 2, 5], dtype=torch.int32)
    out, _ = packing.varlen_attention(None, query, key, value, None, scaling=0.3, cu_seq_lens_q=cu, max_length_q=3)
    expected = _rowwise_causal(*(t[0].transpose(0, 1) for t in (query, key, value)), cu, 0.3)
    assert seen == [12] and out.shape == (1, 5, 2, 8)
    torch.testing.assert_close(out[0], expected)
