"""Padding-free training forward (`trainer.packing`): a micro-batch's rows packed into one sequence.

Why: even length-sorted, token-budgeted micro-batches pad every row to the longest, and the padding
mask sends SDPA to its masked kernel. Packed, the decoder sees only real tokens, attention runs per
row through PyTorch's variable-length FlashAttention (`torch.nn.attention.varlen.varlen_attn`, on a
GPU) given the rows' cumulative lengths, and the LM head scores only real completion tokens.

How it plugs into transformers: an attention function registered under ATTENTION reads the
`cu_seq_lens_q` / `max_length_q` keyword arguments transformers passes from the model's forward to
every attention layer (the same ones its FlashAttention path uses). A forward without them (the
colocated engine's generation, evaluation) gets plain SDPA with the usual mask, so one model serves
both. Without a CUDA varlen kernel (a CPU), each packed row runs causal SDPA on its own slice: slower,
the same numbers, which is what the CPU tests check against the padded path.
"""

from __future__ import annotations

import functools
import inspect
import threading
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

ATTENTION = "grpo_varlen"
_PACKED = threading.local()  # set while a packed forward builds its masks


def enable(model: nn.Module) -> None:
    """Register the attention function and switch `model` (a transformers model) to it."""
    from transformers import AttentionInterface, AttentionMaskInterface

    AttentionInterface.register(ATTENTION, varlen_attention)
    AttentionMaskInterface.register(ATTENTION, _mask)
    for config in {id(c): c for c in (model.config, getattr(model.config, "get_text_config", lambda: None)())
                   if c is not None}.values():
        config._attn_implementation = ATTENTION


def _mask(*args, **kwargs) -> torch.Tensor | None:
    """SDPA's mask for unpacked forwards. A packed forward needs none: its rows are separated by
    cu_seq_lens (transformers would otherwise build an N x N block mask for the packed sequence)."""
    from transformers.masking_utils import sdpa_mask

    return None if getattr(_PACKED, "active", False) else sdpa_mask(*args, **kwargs)


def varlen_attention(module: nn.Module, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                     attention_mask: torch.Tensor | None, dropout: float = 0.0, scaling: float | None = None,
                     **kwargs) -> tuple[torch.Tensor, None]:
    """(1, H, N, d) packed query/key/value -> (1, N, H, d), attention within each packed row only."""
    cu = kwargs.get("cu_seq_lens_q")
    if cu is None:
        from grpo.decode_attention import sdpa_attention

        return sdpa_attention(module, query, key, value, attention_mask, dropout=dropout, scaling=scaling, **kwargs)
    if query.shape[0] != 1:
        raise ValueError(f"packed attention expects one packed row, got a batch of {query.shape[0]}")
    groups = query.shape[1] // key.shape[1]
    q, k, v = (t[0].transpose(0, 1) for t in (query, key, value))  # (N, heads, d)
    if groups > 1:
        k, v = k.repeat_interleave(groups, dim=1), v.repeat_interleave(groups, dim=1)
    # FlashAttention takes half precision only (the learner computes in bf16 under autocast on a GPU)
    kernel = _kernel_for(q)
    if kernel is not None:
        width = v.shape[-1]
        if width != q.shape[-1]:  # MLA's value heads are narrower; FlashAttention wants one head size
            v = F.pad(v, (0, q.shape[-1] - width))
        out = kernel(q, k, v, cu, int(kwargs["max_length_q"]), scaling)[..., :width]
    else:
        bounds = cu.tolist()
        out = torch.cat([
            F.scaled_dot_product_attention(q[s:e].transpose(0, 1), k[s:e].transpose(0, 1), v[s:e].transpose(0, 1),
                                           is_causal=True, scale=scaling).transpose(0, 1)
            for s, e in zip(bounds[:-1], bounds[1:])
        ])
    return out[None], None


def _kernel_for(q: torch.Tensor):
    return _cuda_varlen() if q.is_cuda and q.dtype in (torch.bfloat16, torch.float16) else None


@functools.cache
def _cuda_varlen():
    """torch's varlen FlashAttention as f(q, k, v, cu, max_len, scale), causal; None where this torch
    has none. Its causal switch changed name across releases (is_causal, then window_size). Cached:
    every attention layer of every packed forward asks, and reading the signature is not free."""
    try:
        from torch.nn.attention.varlen import varlen_attn
    except ImportError:
        return None
    params = inspect.signature(varlen_attn).parameters
    causal = {"is_causal": True} if "is_causal" in params else {"window_size": (-1, 0)}
    takes_scale = "scale" in params  # the first releases (torch 2.9/2.10) always scale by 1/sqrt(d)

    def run(q, k, v, cu, max_len, scale):
        cu = cu.to(torch.int32)
        if takes_scale:
            return varlen_attn(q, k, v, cu, cu, max_len, max_len, scale=scale, **causal)
        if scale is not None:  # fold a non-default scale into the query
            q = q * (scale * q.shape[-1] ** 0.5)
        return varlen_attn(q, k, v, cu, cu, max_len, max_len, **causal)

    return run


@dataclass
class Packed:
    input_ids: torch.Tensor  # (1, N) the real tokens of every row, back to back
    position_ids: torch.Tensor  # (1, N) 0.. per row
    cu_seq_lens: torch.Tensor  # (B + 1,) int32 row boundaries in the packed sequence
    max_length: int
    starts: torch.Tensor  # (B,) first real column of each row in the padded layout
    offsets: torch.Tensor  # (B,) where each row starts in the packed sequence


def pack_rows(input_ids: torch.Tensor, attention_mask: torch.Tensor) -> Packed:
    """(B, L) rows whose real tokens are contiguous (left-padded prompt, right-padded completion)."""
    mask = attention_mask.bool()
    lengths = mask.sum(dim=1)
    if bool((lengths == 0).any()):
        raise ValueError("packing: a row has no tokens")
    starts = mask.long().argmax(dim=1)
    columns = torch.arange(mask.shape[1], device=mask.device)
    inside = (columns[None] >= starts[:, None]) & (columns[None] < (starts + lengths)[:, None])
    if not bool((inside == mask).all()):
        raise ValueError("packing: every row's tokens must be contiguous (left-padded prompt, right-padded completion)")
    offsets = torch.cumsum(lengths, 0) - lengths
    position_ids = (columns[None] - starts[:, None])[mask]
    cu = torch.zeros(len(lengths) + 1, dtype=torch.int32, device=mask.device)
    cu[1:] = torch.cumsum(lengths, 0)
    return Packed(input_ids[mask][None], position_ids[None], cu, int(lengths.max()), starts, offsets)


def packed_completion_logprobs(model: nn.Module, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                               completion_length: int, *, temperature: float = 1.0, with_entropy: bool = False,
                               chunk_size: int = 1024) -> tuple[torch.Tensor, torch.Tensor | None]:
    """As policy.completion_logprobs, from one packed forward; padded completion positions get 0.
    The model must have been switched by enable()."""
    from grpo.policy import selective_logprobs, unwrap

    base = unwrap(model)
    packed = pack_rows(input_ids, attention_mask)
    _PACKED.active = True
    try:
        hidden = base.get_decoder()(
            input_ids=packed.input_ids, position_ids=packed.position_ids, attention_mask=None, use_cache=False,
            cu_seq_lens_q=packed.cu_seq_lens, cu_seq_lens_k=packed.cu_seq_lens,
            max_length_q=packed.max_length, max_length_k=packed.max_length,
        ).last_hidden_state[0]  # (N, H)
    finally:
        _PACKED.active = False
    width = input_ids.shape[1]
    columns = torch.arange(width - completion_length, width, device=input_ids.device)  # completion columns
    real = attention_mask[:, -completion_length:].bool()  # (B, C)
    # the hidden state of column j - 1 predicts the token in column j
    index = packed.offsets[:, None] + columns[None] - 1 - packed.starts[:, None]
    rows, cols = real.nonzero(as_tuple=True)
    logprobs, entropy = selective_logprobs(hidden[index[rows, cols]][None], base.get_output_embeddings(),
                                           input_ids[:, -completion_length:][rows, cols][None],
                                           temperature=temperature, chunk_size=chunk_size, with_entropy=with_entropy)
    out = logprobs.new_zeros(real.shape).index_put((rows, cols), logprobs[0])
    out_entropy = None if entropy is None else entropy.new_zeros(real.shape).index_put((rows, cols), entropy[0])
    return out, out_entropy
