"""Load the policy and reference models, compute per-token log-probs, export weights.

Log-probs never materialise (tokens x vocab) float32 logits at once: the final hidden states are
projected through the LM head a chunk of positions at a time (a 151,936-entry vocabulary times
16k tokens would be 10 GB in float32).
"""

from __future__ import annotations

import contextlib
from typing import Any

import torch
from torch import nn

from grpo.config import ModelConfig

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("trainer.device=cuda but no CUDA device is visible; use trainer.device=cpu or auto")
    return torch.device(name)


def training_attention(device: torch.device) -> contextlib.AbstractContextManager:
    """The SDPA backends the trainer's forward may use: every one but cuDNN's on a GPU.

    cuDNN's attention backward (the default SDPA backend on H100/H200 from torch 2.11) returns
    NaN gradients when the padded length is 64 mod 128 and some query row's logsumexp is very
    negative (pytorch/pytorch#196678, huggingface/trl#7181), which a left-padded row, every key
    masked, always is. Seen here as GRPO steps skipped for a NaN gradient (4 of 100 in a study
    run) and an SFT run whose every weight went NaN. A backward runs the kernel its forward
    picked, but activation checkpointing recomputes forwards inside the backward, so the learner
    enters this around both; generation keeps every backend."""
    if device.type != "cuda":
        return contextlib.nullcontext()
    from torch.nn.attention import SDPBackend, sdpa_kernel

    return sdpa_kernel([SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION, SDPBackend.MATH])


def resolve_dtype(name: str, device: torch.device) -> torch.dtype:
    if name == "auto":
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    return DTYPES[name]


def load_tokenizer(config: ModelConfig) -> Any:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(
        config.tokenizer or config.path, trust_remote_code=config.trust_remote_code
    )
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left"
    return tokenizer


def load_model(config: ModelConfig, device: torch.device, *, trainable: bool = True,
               run_device: torch.device | None = None) -> nn.Module:
    """The policy (optionally wrapped with a fresh LoRA adapter) or, with trainable=False, a frozen copy.
    `run_device`: where it will compute, when it is loaded elsewhere first (a sharded learner
    loads on the host and FSDP moves the shards)."""
    from transformers import AutoModelForCausalLM

    dtype = resolve_dtype(config.dtype, device)
    # use_kernels=False: transformers 5.25 turns Hub kernels on by default (layers downloaded at load
    # time; no load at all without the `kernels` package). A run loads the same model offline in the
    # learner, the workers and eval, with the numerics its sampler log-probs came from (every
    # transformers >= 4.56 takes the keyword).
    model = AutoModelForCausalLM.from_pretrained(
        config.path, dtype=dtype, trust_remote_code=config.trust_remote_code, use_kernels=False
    ).to(device)
    if config.liger_kernel:
        from grpo import liger

        liger.apply(model, run_device or device)
    if not trainable:
        model.eval().requires_grad_(False)
        return model
    if config.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.config.use_cache = False
    if config.lora.enabled:
        from peft import LoraConfig, get_peft_model

        lora = LoraConfig(
            r=config.lora.r,
            lora_alpha=config.lora.alpha,
            lora_dropout=config.lora.dropout,
            target_modules=config.lora.target_modules,
            task_type="CAUSAL_LM",
        )
        model = get_peft_model(model, lora)
        if config.gradient_checkpointing:
            model.enable_input_require_grads()
    return model


def unwrap(model: nn.Module) -> nn.Module:
    """The transformers model under a PEFT wrapper (LoRA layers stay injected in it)."""
    get_base = getattr(model, "get_base_model", None)
    return get_base() if callable(get_base) else model


def position_ids_from_mask(attention_mask: torch.Tensor) -> torch.Tensor:
    """Positions that skip left padding: (B, L) mask -> (B, L) positions starting at 0 per row."""
    positions = attention_mask.long().cumsum(dim=1) - 1
    return positions.clamp(min=0)


def _chunk_logprobs(hidden: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor, temperature: float,
                    with_entropy: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """One chunk: (N, H) hidden -> (N,) log-probs of `targets` and (N,) entropies (zeros if not asked)."""
    logits = (hidden @ weight.t()).float()
    if temperature != 1.0:
        logits = logits / temperature
    chosen = logits.gather(1, targets[:, None]).squeeze(1)
    logprobs = chosen - torch.logsumexp(logits, dim=-1)
    if with_entropy:
        with torch.no_grad():
            logp = torch.log_softmax(logits, dim=-1)
            entropy = -(logp.exp() * logp).sum(dim=-1)
    else:
        entropy = torch.zeros_like(logprobs).detach()
    return logprobs, entropy


def selective_logprobs(
    hidden: torch.Tensor,
    lm_head: nn.Module,
    targets: torch.Tensor,
    *,
    temperature: float = 1.0,
    chunk_size: int = 1024,
    with_entropy: bool = False,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """log softmax(lm_head(hidden) / temperature)[targets], chunked over positions.

    hidden (B, T, H), targets (B, T) -> logprobs (B, T) float32, entropy (B, T) float32 or None.
    Each chunk's logits are computed in float32 for the log-sum-exp and freed. Under autograd each
    chunk is checkpointed: backward recomputes its logits instead of keeping them, so at most one
    chunk of (chunk_size x vocab) float32 logits is alive at any time, forward or backward.
    """
    from torch.utils.checkpoint import checkpoint

    batch, length, width = hidden.shape
    weight = lm_head.weight
    if getattr(lm_head, "bias", None) is not None:
        raise ValueError("selective_logprobs expects an LM head without bias")
    flat_hidden = hidden.reshape(-1, width)
    flat_targets = targets.reshape(-1)
    needs_grad = torch.is_grad_enabled() and (flat_hidden.requires_grad or weight.requires_grad)
    logprob_chunks, entropy_chunks = [], []
    for start in range(0, flat_hidden.shape[0], chunk_size):
        args = (flat_hidden[start : start + chunk_size], weight, flat_targets[start : start + chunk_size], temperature, with_entropy)
        if needs_grad:
            logprobs, entropy = checkpoint(_chunk_logprobs, *args, use_reentrant=False)
        else:
            logprobs, entropy = _chunk_logprobs(*args)
        logprob_chunks.append(logprobs)
        entropy_chunks.append(entropy.detach())
    logprobs = torch.cat(logprob_chunks).view(batch, length)
    entropy = torch.cat(entropy_chunks).view(batch, length) if with_entropy else None
    return logprobs, entropy


def completion_logprobs(
    model: nn.Module,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    completion_length: int,
    *,
    temperature: float = 1.0,
    with_entropy: bool = False,
    chunk_size: int = 1024,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Log-probs of the last `completion_length` tokens of each row given everything before them.

    input_ids, attention_mask (B, L) = left-padded prompt + right-padded completion.
    Returns (B, completion_length) float32 log-probs (and entropies).
    """
    base = unwrap(model)
    decoder = base.get_decoder()
    lm_head = base.get_output_embeddings()
    position_ids = position_ids_from_mask(attention_mask)
    hidden = decoder(
        input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids, use_cache=False
    ).last_hidden_state
    # the hidden state at position t predicts token t+1
    hidden = hidden[:, -completion_length - 1 : -1]
    targets = input_ids[:, -completion_length:]
    return selective_logprobs(
        hidden, lm_head, targets, temperature=temperature, chunk_size=chunk_size, with_entropy=with_entropy
    )


class CompletionLogprobs(nn.Module):
    """`completion_logprobs` as a module's forward. The trainer calls this module, not the causal
    LM, so that under FSDP2 it is the root whose forward gathers the parameters outside the decoder
    layers (embeddings, final norm, LM head) before the chunked head reads them."""

    def __init__(self, model: nn.Module, packed: bool = False):
        super().__init__()
        self.model = model
        self.packed = packed  # trainer.packing: one packed sequence per micro-batch (grpo/packing.py)
        if packed:
            from grpo.packing import enable

            enable(unwrap(model))

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, completion_length: int, *,
                temperature: float = 1.0, with_entropy: bool = False, chunk_size: int = 1024
                ) -> tuple[torch.Tensor, torch.Tensor | None]:
        if self.packed:
            from grpo.packing import packed_completion_logprobs as score
        else:
            score = completion_logprobs
        logprobs, entropy = score(self.model, input_ids, attention_mask, completion_length,
                                  temperature=temperature, with_entropy=with_entropy, chunk_size=chunk_size)
        # FSDP hooks the root's outputs for backward; an output that is a view would lose that hook
        # to a later in-place op, so hand back tensors of their own
        return logprobs.clone(), None if entropy is None else entropy.clone()


def export_weights(model: nn.Module) -> dict[str, torch.Tensor]:
    """CPU copy of the weights a rollout engine needs: the base model's state, LoRA deltas merged in."""
    return {name: tensor.detach().to("cpu", copy=True) for name, tensor in serving_state(model).items()}


def serving_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """The weights a rollout engine needs, where the model keeps them: the base model's state,
    LoRA deltas merged in."""
    base = unwrap(model)
    return _merged_lora_state(model) if base is not model else base.state_dict()


def _merged_lora_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """Base-model state dict with every LoRA delta (B @ A * scale) added into its weight."""
    from peft.tuners.lora import LoraLayer

    base = unwrap(model)
    state: dict[str, torch.Tensor] = {}
    lora_prefixes = {}
    for name, module in base.named_modules():
        if isinstance(module, LoraLayer):
            lora_prefixes[name] = module
    for name, tensor in base.state_dict().items():
        if "lora_" in name:
            continue
        clean = name.replace(".base_layer", "")
        state[clean] = tensor
    for name, module in lora_prefixes.items():
        weight_key = f"{name}.weight"
        if weight_key in state:
            state[weight_key] = state[weight_key] + module.get_delta_weight(module.active_adapters[0]).to(
                state[weight_key].dtype
            )
    return state
