"""The engine protocol: prompts in, G completions per prompt out, with sampler log-probs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Literal, Protocol

import torch


@dataclass(frozen=True)
class SamplingParams:
    """What every engine honours. temperature 0 means greedy decoding."""

    n: int = 1
    temperature: float = 1.0
    top_p: float = 1.0
    max_tokens: int = 256
    stop: tuple[str, ...] = ()
    seed: int = 0
    ignore_eos: bool = False  # generate exactly max_tokens (benchmarks: min = max new tokens)
    min_tokens: int = 0  # no EOS / stop before this many tokens


@dataclass
class Completion:
    """One sampled completion of prompt `prompt_index` (index into the generate() call's prompts).

    `logprobs[t]` is the sampler's log-prob of `completion_ids[t]` under softmax(logits / T) (no
    top-p renormalisation), the same quantity the trainer recomputes, so the two can be compared.
    """

    prompt_index: int
    prompt_ids: list[int]
    completion_ids: list[int]
    text: str
    logprobs: list[float]
    finish_reason: Literal["stop", "length"]
    extra: dict[str, Any] = field(default_factory=dict)
    # multi-turn episodes: 1 on the policy's tokens, 0 on the environment's (no loss, no advantage,
    # no importance ratio there; their logprobs are 0). None: every token is the policy's.
    mask: list[int] | None = None


class Engine(Protocol):
    def generate(self, prompts: list[str], params: SamplingParams) -> list[Completion]:
        """len(prompts) x params.n completions, the n samples of a prompt contiguous."""

    def generate_ids(self, prompt_ids: list[list[int]], params: SamplingParams) -> list[Completion]:
        """As generate(), from token ids; multi-turn episodes call it once per turn."""

    def encode(self, prompt: str) -> list[int]:
        """The prompt's ids as generate() would feed them (special tokens, truncation)."""

    def load_weights(self, state: dict[str, torch.Tensor]) -> None:
        """Replace the engine's weights with the trainer's (names as in the HF state dict)."""


# A builder takes (recipe, tokenizer, *, model, colocated) and returns an Engine. The recipe's
# `rollout.engine` is validated against this registry, so a new engine is one decorated builder.
EngineBuilder = Callable[..., Engine]
ENGINES: dict[str, EngineBuilder] = {}
BUILTIN_ENGINE_MODULES = ("grpo.rollout.hf_engine", "grpo.rollout.vllm_engine", "grpo.rollout.factory")


def register_engine(name: str) -> Callable[[EngineBuilder], EngineBuilder]:
    """Register an engine builder under `name`; a second, different builder for a name is an error."""

    def decorate(builder: EngineBuilder) -> EngineBuilder:
        existing = ENGINES.get(name)
        if existing is not None and _qualified(existing) != _qualified(builder):
            raise ValueError(f"engine {name!r} is already registered by {_qualified(existing)}")
        ENGINES[name] = builder
        return builder

    return decorate


def engine_names() -> list[str]:
    """Every registered engine, built-ins included (their modules never import vLLM at import time)."""
    import importlib

    for module in BUILTIN_ENGINE_MODULES:
        importlib.import_module(module)
    return sorted(ENGINES)


def _qualified(fn: Callable[..., object]) -> str:
    return f"{fn.__module__}.{fn.__qualname__}"
