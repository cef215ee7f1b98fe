"""The GRPO objective as pure tensor functions: advantages, policy loss, KL, aggregation, filters.

No Ray, no I/O, no globals beyond the registries. Shapes: B completions, T completion tokens,
G samples per prompt (B = P x G, samples of one prompt contiguous). Masks are 1.0 on real
completion tokens, 0.0 on padding.

References
- GRPO: Shao et al. 2024, DeepSeekMath, eq. (3) and Sec. 4.1.2 (outcome supervision).
- Dr. GRPO: Liu et al. 2025, "Understanding R1-Zero-Like Training", eq. (2)-(3).
- RLOO: Ahmadian et al. 2024, "Back to Basics", leave-one-out baseline.
- DAPO: Yu et al. 2025, clip-higher (eq. 10), token-level loss (eq. 12), dynamic sampling, overlong.
- GSPO: Zheng et al. 2025, "Group Sequence Policy Optimization", eq. (5)-(7) and (10).
- KL estimators: Schulman 2020, "Approximating KL divergence" (k1, k2, k3).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

AdvantageFn = Callable[..., torch.Tensor]
ADVANTAGES: dict[str, AdvantageFn] = {}


def register_advantage(name: str) -> Callable[[AdvantageFn], AdvantageFn]:
    """Register an estimator (rewards (B,), group_size, std_scope -> advantages (B,)) under `name`.

    The recipe's `algorithm.advantage` is validated against this registry; a second, different
    function for a name is an error rather than a silent replacement."""

    def decorate(fn: AdvantageFn) -> AdvantageFn:
        existing = ADVANTAGES.get(name)
        if existing is not None and (existing.__module__, existing.__qualname__) != (fn.__module__, fn.__qualname__):
            raise ValueError(f"advantage estimator {name!r} is already registered by {existing.__module__}.{existing.__qualname__}")
        ADVANTAGES[name] = fn
        return fn

    return decorate


def _grouped(rewards: torch.Tensor, group_size: int) -> torch.Tensor:
    if rewards.dim() != 1 or rewards.numel() % group_size:
        raise ValueError(f"rewards must be 1-D with a multiple of group_size={group_size} entries, got {tuple(rewards.shape)}")
    return rewards.view(-1, group_size)


@register_advantage("grpo")
def grpo_advantages(
    rewards: torch.Tensor, group_size: int, std_scope: str = "group", eps: float = 1e-4
) -> torch.Tensor:
    """(r - mean_group) / (std + eps); rewards (B,) -> advantages (B,).

    std is the unbiased sample std (as TRL and verl compute it) over the group, over the whole
    batch, or 1 when std_scope='none'. A group whose rewards are all equal gets advantage 0.
    """
    groups = _grouped(rewards, group_size)
    centred = groups - groups.mean(dim=1, keepdim=True)
    if std_scope == "group":
        scale = groups.std(dim=1, keepdim=True) + eps
    elif std_scope == "batch":
        scale = rewards.std() + eps
    elif std_scope == "none":
        scale = torch.ones((), dtype=rewards.dtype, device=rewards.device)
    else:
        raise ValueError(f"std_scope must be group, batch or none, got {std_scope!r}")
    return (centred / scale).reshape(-1)


@register_advantage("dr_grpo")
def dr_grpo_advantages(rewards: torch.Tensor, group_size: int, std_scope: str = "none", eps: float = 1e-4) -> torch.Tensor:
    """r - mean_group: Dr. GRPO removes the std, which over-weights too easy and too hard prompts."""
    groups = _grouped(rewards, group_size)
    return (groups - groups.mean(dim=1, keepdim=True)).reshape(-1)


@register_advantage("rloo")
def rloo_advantages(rewards: torch.Tensor, group_size: int, std_scope: str = "none", eps: float = 1e-4) -> torch.Tensor:
    """r_i - mean_{j != i} r_j = G/(G-1) (r_i - mean): the baseline excludes the sample itself."""
    groups = _grouped(rewards, group_size)
    others = (groups.sum(dim=1, keepdim=True) - groups) / (group_size - 1)
    return (groups - others).reshape(-1)


def compute_advantages(
    rewards: torch.Tensor, group_size: int, estimator: str = "grpo", std_scope: str = "group"
) -> torch.Tensor:
    """Advantages (B,) of rewards (B,). A non-finite reward is refused here: one NaN would turn every
    advantage of its group (and, through the batch std, of the batch) into NaN."""
    if not torch.isfinite(rewards).all():
        bad = torch.nonzero(~torch.isfinite(rewards)).squeeze(1).tolist()
        raise ValueError(f"rewards must be finite to compute advantages; rows {bad[:8]} are not")
    if estimator not in ADVANTAGES:
        raise ValueError(f"unknown advantage estimator {estimator!r}; known: {sorted(ADVANTAGES)}")
    return ADVANTAGES[estimator](rewards, group_size, std_scope=std_scope)


# --------------------------------------------------------------------------- importance ratios


def log_importance_ratio(
    logprobs: torch.Tensor, old_logprobs: torch.Tensor, mask: torch.Tensor, level: str = "token"
) -> torch.Tensor:
    """log r per token, (B, T).

    token: log pi(y_t) - log pi_old(y_t) (PPO / GRPO).
    sequence: GSPO's length-normalised sequence ratio s_i = exp(mean_t (log pi - log pi_old)),
    broadcast to tokens as log s_i,t = sg[log s_i] + log pi(y_t) - sg[log pi(y_t)] so that its
    value is the sequence ratio while its gradient flows through every token (GSPO eq. 10).
    """
    delta = logprobs - old_logprobs
    if level == "token":
        return delta
    if level == "sequence":
        lengths = mask.sum(dim=1).clamp(min=1.0)
        seq = (delta * mask).sum(dim=1) / lengths
        return seq.detach().unsqueeze(1) + logprobs - logprobs.detach()
    raise ValueError(f"importance level must be token or sequence, got {level!r}")


def clipped_surrogate(
    log_ratio: torch.Tensor,
    advantages: torch.Tensor,
    epsilon_low: float,
    epsilon_high: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """PPO clipped objective with asymmetric clip range, as a loss to minimise.

    log_ratio (B, T), advantages (B,) -> per-token loss (B, T), clipped indicator (B, T).
    loss = -min(r A, clip(r, 1-eps_low, 1+eps_high) A)  (DAPO eq. 10 with eps_low != eps_high).
    """
    ratio = torch.exp(log_ratio)
    adv = advantages.unsqueeze(1)
    unclipped = ratio * adv
    clipped = torch.clamp(ratio, 1.0 - epsilon_low, 1.0 + epsilon_high) * adv
    loss = -torch.minimum(unclipped, clipped)
    was_clipped = (clipped < unclipped).to(log_ratio.dtype)
    return loss, was_clipped


# --------------------------------------------------------------------------- KL


def kl_penalty(logprobs: torch.Tensor, ref_logprobs: torch.Tensor, estimator: str = "k3") -> torch.Tensor:
    """Per-token estimate of KL(pi || pi_ref) from samples of pi, (B, T).

    k1 = log pi - log ref; k2 = (log pi - log ref)^2 / 2; k3 = exp(ref - pi) - (ref - pi) - 1,
    the unbiased, always non-negative estimator DeepSeekMath uses (eq. 4).
    """
    log_r = ref_logprobs - logprobs
    if estimator == "k1":
        return -log_r
    if estimator == "k2":
        return 0.5 * log_r.square()
    if estimator == "k3":
        # Clamp only guards exp overflow on wildly divergent tokens; it never binds in sane runs.
        log_r = log_r.clamp(-20.0, 20.0)
        return torch.exp(log_r) - log_r - 1.0
    raise ValueError(f"kl estimator must be k1, k2 or k3, got {estimator!r}")


# --------------------------------------------------------------------------- aggregation


def aggregate(
    values: torch.Tensor,
    mask: torch.Tensor,
    mode: str = "token-mean",
    *,
    num_sequences: float | None = None,
    num_tokens: float | None = None,
    max_tokens: int | None = None,
) -> torch.Tensor:
    """Reduce per-token values (B, T) to a scalar.

    token-mean: sum / number of tokens (DAPO eq. 12: long answers weigh by their length).
    seq-mean-token-mean: mean over sequences of each sequence's token mean (GRPO eq. 3).
    seq-mean-token-sum-norm: sum / (sequences x max_tokens), a constant normaliser (Dr. GRPO),
    so no length bias creeps in through the denominator.

    `num_sequences` and `num_tokens` are the totals of the whole minibatch when the minibatch is
    split into micro-batches for gradient accumulation: summing the micro-batch results then
    gives exactly the minibatch loss. Left unset, they are this call's own totals.
    """
    masked = values * mask
    sequences = float(values.shape[0]) if num_sequences is None else num_sequences
    if mode == "token-mean":
        tokens = mask.sum() if num_tokens is None else num_tokens
        return masked.sum() / max(float(tokens), 1.0)
    if mode == "seq-mean-token-mean":
        per_sequence = masked.sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)
        return per_sequence.sum() / sequences
    if mode == "seq-mean-token-sum-norm":
        if max_tokens is None:
            raise ValueError("seq-mean-token-sum-norm needs max_tokens (the generation budget)")
        return masked.sum() / (sequences * max_tokens)
    raise ValueError(f"unknown loss aggregation {mode!r}")


@dataclass(frozen=True)
class LossSettings:
    """The objective's knobs, fixed for a run: built once from the recipe's `algorithm` section.

    max_tokens is the generation budget, the constant normaliser of seq-mean-token-sum-norm.
    """

    epsilon_low: float = 0.2
    epsilon_high: float = 0.2
    importance_level: str = "token"
    aggregation: str = "token-mean"
    beta: float = 0.0
    kl_estimator: str = "k3"
    max_tokens: int | None = None
    sampler_correction: str = "none"
    sampler_is_cap: float = 2.0


def policy_loss(
    logprobs: torch.Tensor,
    old_logprobs: torch.Tensor,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    settings: LossSettings = LossSettings(),
    *,
    ref_logprobs: torch.Tensor | None = None,
    sampler_logprobs: torch.Tensor | None = None,
    num_sequences: float | None = None,
    num_tokens: float | None = None,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The GRPO loss of one (micro-)batch and its diagnostics (detached scalar tensors).

    logprobs, old_logprobs, mask, ref/sampler log-probs (B, T); advantages (B,).
    loss = aggregate(w * -min(r A, clip(r) A) + beta * KL). With beta = 0 no reference log-probs
    are needed and none are read. w is 1 unless settings.sampler_correction corrects for the
    sampler's log-probs differing from the trainer's (`sampler_weights`); given sampler_logprobs,
    the mismatch is reported either way. num_sequences / num_tokens: see `aggregate`.
    """
    s = settings
    log_ratio = log_importance_ratio(logprobs, old_logprobs, mask, s.importance_level)  # (B, T)
    per_token, clipped = clipped_surrogate(log_ratio, advantages, s.epsilon_low, s.epsilon_high)  # (B, T)
    stats: dict[str, torch.Tensor] = {}
    if sampler_logprobs is not None:
        weights, sampler_stats = sampler_weights(old_logprobs, sampler_logprobs, mask, s.sampler_correction, s.sampler_is_cap)
        per_token = per_token * weights
        stats.update(sampler_stats)
    elif s.sampler_correction != "none":
        raise ValueError(f"sampler_correction={s.sampler_correction!r} needs sampler_logprobs")
    if s.beta > 0.0:
        if ref_logprobs is None:
            raise ValueError("beta > 0 needs ref_logprobs")
        kl = kl_penalty(logprobs, ref_logprobs, s.kl_estimator)  # (B, T)
        per_token = per_token + s.beta * kl
        stats["kl"] = _masked_mean(kl.detach(), mask)
    loss = aggregate(per_token, mask, s.aggregation, num_sequences=num_sequences, num_tokens=num_tokens,
                     max_tokens=s.max_tokens)  # scalar
    stats["clip_fraction"] = _masked_mean(clipped, mask)
    stats["ratio_mean"] = _masked_mean(torch.exp(log_ratio.detach()), mask)
    return loss, stats


def sft_loss(logprobs: torch.Tensor, mask: torch.Tensor, num_tokens: float | None = None) -> torch.Tensor:
    """Negative log-likelihood of the completion tokens, a mean over tokens: logprobs, mask (B, T).

    Prompt tokens are not in `mask` (the model is taught to answer, not to ask). `num_tokens`
    is the whole batch's count when it is split into micro-batches, so their losses sum to the
    batch's token mean (as `aggregate` does for the policy loss).
    """
    return aggregate(-logprobs, mask, "token-mean", num_tokens=num_tokens)


def sampler_weights(
    trainer_logprobs: torch.Tensor,
    sampler_logprobs: torch.Tensor,
    mask: torch.Tensor,
    mode: str = "none",
    cap: float = 2.0,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Per-token weights (B, T), detached, that correct the policy gradient for sampling with an
    engine whose probabilities pi_s differ from the trainer's pi_old (other kernels, precision).

    rho = pi_old / pi_s per token.
    none: w = 1 (the mismatch is only measured);
    tis:  w = min(rho, cap)  (truncated importance sampling; Yao et al. 2025, "Your efficient RL
          framework secretly brings you off-policy RL training");
    mis:  w = rho inside [1/cap, cap], else 0 (masked importance sampling: tokens the two
          disagree on most are left out).
    Stats: sampler_logprob_gap = mean |log rho|, sampler_is_weight = mean w, sampler_is_clipped =
    share of tokens whose rho was truncated or masked.
    """
    log_rho = (trainer_logprobs - sampler_logprobs).detach()
    rho = torch.exp(log_rho.clamp(-20.0, 20.0))
    if mode == "none":
        weights = torch.ones_like(rho)
        outside = torch.zeros_like(rho)
    elif mode == "tis":
        weights = rho.clamp(max=cap)
        outside = (rho > cap).to(rho.dtype)
    elif mode == "mis":
        inside = (rho <= cap) & (rho >= 1.0 / cap)
        weights = torch.where(inside, rho, torch.zeros_like(rho))
        outside = (~inside).to(rho.dtype)
    else:
        raise ValueError(f"sampler correction must be none, tis or mis, got {mode!r}")
    stats = {
        "sampler_logprob_gap": _masked_mean(log_rho.abs(), mask),
        "sampler_is_weight": _masked_mean(weights, mask),
        "sampler_is_clipped": _masked_mean(outside, mask),
    }
    return weights, stats


def _masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return (values * mask).sum() / mask.sum().clamp(min=1.0)


# --------------------------------------------------------------------------- batch filters


def informative_groups(rewards: torch.Tensor, group_size: int, atol: float = 1e-6) -> torch.Tensor:
    """(P,) bool: groups whose rewards are not all equal (DAPO dynamic sampling keeps only these).

    A group of equal rewards has zero advantage under every estimator, so it adds no gradient
    but still dilutes token-mean losses.
    """
    groups = _grouped(rewards, group_size)
    return (groups.max(dim=1).values - groups.min(dim=1).values) > atol


def overlong_mask(truncated: torch.Tensor) -> torch.Tensor:
    """(B,) float: 0 for completions cut by the length budget, 1 otherwise (DAPO overlong filtering).

    A truncated answer is not wrong, only unfinished; punishing it teaches the model to be short.
    """
    return (~truncated.bool()).to(torch.float32)


def entropy_from_logits(logits: torch.Tensor) -> torch.Tensor:
    """Entropy of softmax(logits) over the last dim, computed in float32: (..., V) -> (...)."""
    logits = logits.float()
    logp = torch.log_softmax(logits, dim=-1)
    return -(logp.exp() * logp).sum(dim=-1)
