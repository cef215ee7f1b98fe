"""The transformers engine: a KV-cached sampling loop over any causal LM, on CPU or GPU.

We drive `model.forward` ourselves instead of calling `generate()` because we need the sampler's
log-probs, a seeded generator per call (reproducible runs), and stop strings handled on the host
only every few steps on a GPU (a per-step host sync costs more than a small model's forward).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from grpo import decode_attention
from grpo.config import Recipe
from grpo.policy import position_ids_from_mask
from grpo.rollout.base import Completion, SamplingParams, register_engine
from grpo.rollout.kv_pool import KVPool, draw_from
from grpo.rollout.sampling import sample_tokens


@dataclass
class _DecodeState:
    """What a decode loop carries between steps (B rows)."""

    cache: Any  # StaticCache (fixed addresses, graph-capturable) or DynamicCache
    attention_mask: torch.Tensor  # (B, W + max_tokens) static, or (B, W + steps so far) dynamic
    next_position: torch.Tensor  # (B, 1) position id of the next token
    cache_position: torch.Tensor  # (1,) static path: cache slot of the next token
    width: int  # W, the padded prompt width
    logits: torch.Tensor  # (B, V) next-token logits


@register_engine("transformers")
def build_transformers_engine(recipe: Recipe, tokenizer: Any, *, model: nn.Module | None, colocated: bool) -> "TransformersEngine":
    """The trained module itself when colocated, or the rollout actor's own copy."""
    if model is None:
        raise ValueError("the transformers engine generates with a module; pass model=")
    r = recipe.rollout
    if recipe.model.liger_kernel and r.compile and r.capture == "torch_compile":
        # measured on an H200 (docs/throughput.md): dynamo fails to compile Liger's Triton kernels in
        # the decode step (CompilationError in the log) and generation took 11x longer on the small workload
        warnings.warn("model.liger_kernel with the transformers engine's rollout.capture=torch_compile: torch.compile "
                      "fails on Liger's Triton kernels and generation runs far slower (11x measured); generate with "
                      "rollout.engine=vllm, or set model.liger_kernel=false", stacklevel=2)
    return TransformersEngine(model, tokenizer, max_prompt_tokens=r.max_prompt_tokens, compile=r.compile,
                              batch_size=r.engine_batch_size, capture=r.capture,
                              release_cache=r.release_cache and colocated)


KV_SHARE = 0.25  # of the GPU's memory that an automatically sized batch's KV cache may take


def kv_bytes_per_token(config: Any, itemsize: int) -> int:
    """Bytes of KV cache one token takes across all layers (keys and values; MLA models cache the
    full per-head keys and values in transformers' cache, so those dims count)."""
    text = config.get_text_config() if hasattr(config, "get_text_config") else config
    heads = getattr(text, "num_key_value_heads", None) or text.num_attention_heads
    head_dim = getattr(text, "head_dim", None) or text.hidden_size // text.num_attention_heads
    key_dim = (getattr(text, "qk_nope_head_dim", 0) or 0) + (getattr(text, "qk_rope_head_dim", 0) or 0) or head_dim
    value_dim = getattr(text, "v_head_dim", None) or head_dim
    return int(text.num_hidden_layers * heads * (key_dim + value_dim) * itemsize)


def cache_kwarg(model: nn.Module) -> str:
    """The forward's name for the KV cache: transformers 5.2x renamed `past_key_values` to `cache`
    (the old name warns, and goes in 5.40); older releases and remote-code models know only the old."""
    import inspect

    from grpo.policy import unwrap

    parameters = inspect.signature(type(unwrap(model)).forward).parameters
    return "cache" if "cache" in parameters else "past_key_values"


def auto_batch_rows(memory_bytes: int, token_bytes: int, length: int, low: int = 16, high: int = 4096) -> int:
    """Rows whose KV cache of `length` tokens fits in KV_SHARE of `memory_bytes`, within [low, high]."""
    return max(low, min(high, int(memory_bytes * KV_SHARE) // max(1, token_bytes * length)))


class TransformersEngine:
    """Generates with `model` (shared with a colocated trainer, or owned by a rollout actor)."""

    def __init__(self, model: nn.Module, tokenizer: Any, *, max_prompt_tokens: int | None = None, batch_size: int | None = None,
                 compile: bool = False, static_cache: bool | None = None, batch_bucket: int = 16, length_bucket: int = 64,
                 compact: bool = True, capture: str = "torch_compile", release_cache: bool = False):
        decode_attention.install()  # decode steps read the KV cache once per key/value head, not per query head
        self.model = model
        self.tokenizer = tokenizer
        self.compact = compact
        self.release_cache = release_cache
        self.max_prompt_tokens = max_prompt_tokens
        self.batch_size = batch_size
        self.device = next(model.parameters()).device
        on_gpu = self.device.type == "cuda"
        # GPU fast path: a static KV cache (fixed addresses) lets the decode step be captured as a CUDA
        # graph; batch and prompt widths are rounded up to buckets so captured graphs are reused.
        self.static = (compile and on_gpu) if static_cache is None else static_cache
        self.batch_bucket = batch_bucket if self.static else 1
        self.length_bucket = length_bucket if self.static else 1
        self._caches: dict[tuple[int, int], Any] = {}
        self._pool = KVPool()  # the caches' shared memory (a shrink's target overlaps its source)
        self._step = self._decode
        if compile and on_gpu:
            if capture == "cuda_graph":
                from grpo.rollout.cuda_graphs import GraphedDecode

                self._step = GraphedDecode(self._decode, model)
            elif capture == "torch_compile":
                self._step = torch.compile(self._decode, mode="reduce-overhead", dynamic=False)
            else:
                raise ValueError(f"rollout.capture: {capture!r} is not 'torch_compile' or 'cuda_graph'")
        self.cache_kwarg = cache_kwarg(model)
        self.eos_ids = _eos_ids(model, tokenizer)
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else self.eos_ids[0]

    def load_weights(self, state: dict[str, torch.Tensor]) -> None:
        from grpo.policy import unwrap

        missing, unexpected = unwrap(self.model).load_state_dict(state, strict=False)
        real_missing = [name for name in missing if not name.endswith("lm_head.weight")]
        if real_missing or unexpected:
            raise RuntimeError(f"weight sync mismatch: missing {real_missing[:3]}, unexpected {unexpected[:3]}")

    def generate(self, prompts: list[str], params: SamplingParams) -> list[Completion]:
        completions = self.generate_ids([self.encode(prompt) for prompt in prompts], params)
        self.finish_generation()
        return completions

    def finish_generation(self) -> None:
        """With release_cache (colocated): drop every KV cache and the graphs captured against
        them, so the update that follows can use that memory. The caches of workload R hold 17.5 GiB
        while the update needs none of it; the price is capturing the graphs again next time."""
        if self.release_cache:
            self._pool = KVPool()
            self._drop_caches()

    @torch.inference_mode()
    def generate_ids(self, prompt_ids: list[list[int]], params: SamplingParams) -> list[Completion]:
        """As generate(), from token ids (multi-turn episodes continue from exactly their tokens)."""
        generator = torch.Generator(device=self.device)
        generator.manual_seed(params.seed)
        check_weights = getattr(self._step, "check_weights", None)  # captured graphs read weights by address
        if check_weights is not None:
            check_weights()
        was_training = self.model.training
        self.model.eval()
        try:
            rows = [(index, list(ids)) for index, ids in enumerate(prompt_ids) for _ in range(params.n)]
            size = self.batch_size or self._auto_batch_size(max((len(ids) for _, ids in rows), default=0), params.max_tokens)
            completions: list[Completion] = []
            for start in range(0, len(rows), size):
                completions += self._generate_batch(rows[start : start + size], params, generator)
            return completions
        finally:
            self.model.train(was_training)

    def _auto_batch_size(self, width: int, max_tokens: int) -> int:
        """Rows decoded together when rollout.engine_batch_size is unset. On a GPU a decode step
        costs far less than proportionally more with more rows: for the 1.5B shape on an H200 an
        eager step took 66 ms at 64 rows and 67 ms at 512 (launch-bound; benchmarks/decode_scaling.py),
        and a captured one 12.8 ms at 512 rows over a 1,280-token cache (benchmarks/decode_kernels.py),
        so the batch is as large as KV_SHARE of the GPU's memory holds (sized from the total, not the
        free memory, so the same run draws the same samples). On a CPU the cost grows with the
        rows and batching gains little: 256."""
        if self.device.type != "cuda":
            return 256
        itemsize = next(self.model.parameters()).element_size()
        total = torch.cuda.get_device_properties(self.device).total_memory
        return auto_batch_rows(total, kv_bytes_per_token(self.model.config, itemsize), width + max_tokens)

    def encode(self, prompt: str) -> list[int]:
        ids = self.tokenizer(prompt, add_special_tokens=False)["input_ids"]
        if self.tokenizer.bos_token_id is not None and getattr(self.tokenizer, "add_bos_token", False):
            ids = [self.tokenizer.bos_token_id] + ids
        return ids[-self.max_prompt_tokens :] if self.max_prompt_tokens else ids

    def _decode(self, input_ids: torch.Tensor, position_ids: torch.Tensor, cache_position: torch.Tensor,
                attention_mask: torch.Tensor, cache: Any) -> torch.Tensor:
        """One decode step over the static cache: (B, 1) tokens -> (B, V) next-token logits."""
        out = self.model(input_ids=input_ids, position_ids=position_ids, cache_position=cache_position,
                         attention_mask=attention_mask, **{self.cache_kwarg: cache}, use_cache=True)
        return out.logits[:, -1, :]

    def _static_step(self, *args: Any) -> torch.Tensor:
        try:
            # cudagraph trees reuse the output buffer on the next replay: take a copy we own
            return self._step(*args).clone()
        except Exception as err:  # a model dynamo cannot capture still generates, eagerly
            if self._step is self._decode:
                raise
            warnings.warn(f"compiled decoding failed ({type(err).__name__}: {err}); decoding eagerly", stacklevel=2)
            self._step = self._decode
            return self._decode(*args)

    def _static_cache(self, batch: int, length: int, reset: bool = True) -> Any:
        """The engine's cache for (batch, length), its memory drawn from the pool. A shrink's target is
        not reset: it overlaps the cache it is filled from."""
        from transformers import StaticCache

        key = (batch, length)
        if key not in self._caches:
            self._caches[key] = StaticCache(config=self.model.config, max_cache_len=length)
            draw_from(self._pool, self._caches[key])
        elif reset:
            self._caches[key].reset()
        return self._caches[key]

    def _drop_caches(self, keep: Any = None) -> None:
        """Drop every cache but `keep`, and every captured graph (they read the dropped caches'
        memory), so that the memory is freed."""
        self._caches = {key: cache for key, cache in self._caches.items() if cache is keep}
        forget = getattr(self._step, "forget", None)
        if forget is not None:
            forget()

    def _generate_batch(
        self, rows: list[tuple[int, list[int]]], params: SamplingParams, generator: torch.Generator
    ) -> list[Completion]:
        """Sample up to max_tokens for every row; a row stops at EOS, a stop token or a stop string.

        Finished rows leave the batch (compaction): the KV cache, mask and positions keep only the
        live rows, so a step costs what the unfinished completions need, not what the longest
        one's batch-mates would. Outputs go to per-row buffers indexed by `active`.
        """
        real = len(rows)
        input_ids, prompt_mask = self._left_pad(rows)  # (B, W), B and W rounded up to buckets
        state = self._prefill(input_ids, prompt_mask, params.max_tokens)
        count, device = input_ids.shape[0], self.device
        stop_ids, stop_strings = self._split_stops(params.stop)
        ends = sorted(stop_ids | (set() if params.ignore_eos else set(self.eos_ids)))
        stop_tensor = torch.tensor(ends or [-1], device=device)
        # one host sync every `check_every` steps: free on CPU, a real cost per step on GPU
        check_every = 1 if device.type == "cpu" else 16
        # row `count` is a sink: bucket fillers write there and are never read
        tokens_out = torch.full((count + 1, params.max_tokens), self.pad_id, dtype=torch.long, device=device)
        logprobs_out = torch.zeros((count + 1, params.max_tokens), dtype=torch.float32, device=device)
        active = torch.arange(count, device=device)
        active[real:] = count
        finished = active == count
        for step in range(params.max_tokens):
            # one uniform per real row and step, whatever the batch looks like now (fillers get 0)
            draw = torch.rand(real + 1, generator=generator, device=device)
            uniforms = draw[active.clamp(max=real)]  # (B,)
            logits = state.logits
            if step < params.min_tokens and ends:  # no stop before min_tokens (as vLLM's min_tokens)
                logits = logits.index_fill(1, stop_tensor, float("-inf"))
            tokens, logprobs = sample_tokens(logits, params.temperature, params.top_p, generator, uniforms)
            tokens = torch.where(finished, torch.full_like(tokens, self.pad_id), tokens)
            tokens_out[active, step] = tokens
            logprobs_out[active, step] = logprobs.float()
            finished = finished | torch.isin(tokens, stop_tensor)
            if step + 1 == params.max_tokens:
                break
            if (step + 1) % check_every == 0:
                if stop_strings and step + 1 >= params.min_tokens:
                    finished = finished | self._hit_stop_strings(tokens_out, active, step + 1, finished, stop_strings, check_every)
                left = int((~finished).sum())
                if left == 0:
                    break
                if self.compact:
                    keep = self._compaction(finished, left)
                    if keep is not None:
                        self._shrink(state, keep, params.max_tokens)
                        fillers = torch.arange(len(keep), device=device) >= left
                        active = torch.where(fillers, torch.full_like(keep, count), active[keep])
                        finished = finished[keep] | fillers
                        tokens = tokens[keep]
            self._advance(state, tokens, step)
        generated = tokens_out[:real].cpu().tolist()  # (real, max_tokens)
        sampled_logprobs = logprobs_out[:real].cpu().tolist()
        return [
            self._finish(index, ids, generated[row], sampled_logprobs[row], stop_ids, stop_strings, params)
            for row, (index, ids) in enumerate(rows)
        ]

    def _compaction(self, finished: torch.Tensor, left: int) -> torch.Tensor | None:
        """Indices of the rows to keep (live rows first, then fillers up to the bucket), or None when
        shrinking would not pay: the static path compacts to powers of two (each batch size is one
        more compiled graph), the dynamic path once a quarter of the rows are done."""
        current = finished.shape[0]
        if self.static:
            size = max(self.batch_bucket, 1 << (left - 1).bit_length())
            if size >= current:
                return None
        else:
            size = left
            if size > current * 3 // 4:
                return None
        live = torch.nonzero(~finished).squeeze(1)
        return torch.cat([live, live[:1].expand(size - left)]) if size > left else live

    def _shrink(self, state: _DecodeState, keep: torch.Tensor, max_tokens: int) -> None:
        """Keep rows `keep` of the cache, mask and positions (in that order)."""
        state.attention_mask = state.attention_mask[keep]
        state.next_position = state.next_position[keep]
        if not self.static:
            state.cache.batch_select_indices(keep)
            return
        smaller = self._static_cache(len(keep), state.cache.layers[0].max_cache_len, reset=False)
        for old, new in zip(state.cache.layers, smaller.layers):
            if not new.is_initialized:
                new.lazy_initialization(old.keys[: len(keep)], old.values[: len(keep)])
            # both are views of the pool's buffer for this layer: gather the rows first, then write
            new.keys.copy_(old.keys.index_select(0, keep))
            new.values.copy_(old.values.index_select(0, keep))
            if hasattr(old, "cumulative_length"):  # where the next token is written (transformers 5)
                new.cumulative_length.copy_(old.cumulative_length)
        state.cache = smaller

    def _left_pad(self, rows: list[tuple[int, list[int]]]) -> tuple[torch.Tensor, torch.Tensor]:
        """Prompt ids left-padded to one width, (B, W) ids and mask on the device. On the static path
        B and W are rounded up to buckets (filler rows repeat row 0 and are discarded) so that
        captured graphs are reused across calls."""
        padded_rows = rows + [rows[0]] * (-len(rows) % self.batch_bucket)
        width = max(len(ids) for _, ids in rows)
        width += -width % self.length_bucket
        input_ids = torch.full((len(padded_rows), width), self.pad_id, dtype=torch.long)
        prompt_mask = torch.zeros((len(padded_rows), width), dtype=torch.long)
        for row, (_, ids) in enumerate(padded_rows):
            input_ids[row, width - len(ids) :] = torch.tensor(ids)
            prompt_mask[row, width - len(ids) :] = 1
        return input_ids.to(self.device), prompt_mask.to(self.device)

    def _prefill(self, input_ids: torch.Tensor, prompt_mask: torch.Tensor, max_tokens: int) -> _DecodeState:
        """Run the prompts through the model, filling a KV cache; the state holds the next-token logits."""
        from transformers import DynamicCache

        count, width = input_ids.shape
        position_ids = position_ids_from_mask(prompt_mask)
        if self.static:
            generation = self._pool.generation
            cache = self._static_cache(count, width + max_tokens)
            attention_mask = torch.zeros((count, width + max_tokens), dtype=torch.long, device=self.device)
            attention_mask[:, :width] = prompt_mask
            positions = torch.arange(width + max_tokens, device=self.device)
            logits = self.model(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids,
                                cache_position=positions[:width], **{self.cache_kwarg: cache}, use_cache=True,
                                logits_to_keep=1).logits[:, -1]
            if self._pool.generation != generation:  # the prefill grew the pool: older caches view freed buffers
                self._drop_caches(keep=cache)
        else:
            cache = DynamicCache()
            attention_mask = prompt_mask
            logits = self.model(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids,
                                **{self.cache_kwarg: cache}, use_cache=True, logits_to_keep=1).logits[:, -1]
        return _DecodeState(cache, attention_mask, position_ids[:, -1:] + 1,
                            torch.zeros(1, dtype=torch.long, device=self.device), width, logits)

    def _advance(self, state: _DecodeState, tokens: torch.Tensor, step: int) -> None:
        """Feed the tokens sampled at `step` (B,) and replace state.logits with the next ones (B, V)."""
        if self.static:
            state.attention_mask[:, state.width + step] = 1
            # the same tensor objects every step, updated in place: the captured graph is replayed
            state.cache_position.fill_(state.width + step)
            state.logits = self._static_step(tokens[:, None], state.next_position, state.cache_position,
                                             state.attention_mask, state.cache)
        else:
            state.attention_mask = torch.cat([state.attention_mask, torch.ones_like(tokens)[:, None]], dim=1)
            state.logits = self.model(input_ids=tokens[:, None], attention_mask=state.attention_mask,
                                      position_ids=state.next_position, **{self.cache_kwarg: state.cache},
                                      use_cache=True).logits[:, -1]
        state.next_position.add_(1)

    def _split_stops(self, stops: tuple[str, ...]) -> tuple[set[int], list[str]]:
        """Stop strings that are one token stop on the device; the rest are matched in text."""
        single, multi = set(), []
        for stop in stops:
            ids = self.tokenizer(stop, add_special_tokens=False)["input_ids"]
            if len(ids) == 1:
                single.add(ids[0])
            else:
                multi.append(stop)
        return single, multi

    def _hit_stop_strings(
        self, tokens_out: torch.Tensor, active: torch.Tensor, steps: int, finished: torch.Tensor, stops: list[str],
        since: int,
    ) -> torch.Tensor:
        """(B,) bool: live rows whose text generated so far ends in one of `stops`."""
        # a token decodes to at least one character, so a match since the last check lies in the tail
        tail = max(len(stop) for stop in stops) + since + 4
        generated = tokens_out[active, max(0, steps - tail) : steps].cpu().tolist()
        done = finished.cpu().tolist()
        hits = []
        for row, ids in enumerate(generated):
            text = "" if done[row] else self.tokenizer.decode(ids, skip_special_tokens=False)
            hits.append(any(stop in text for stop in stops))
        return torch.tensor(hits, device=finished.device)

    def _finish(
        self, index: int, prompt_ids: list[int], ids: list[int], logprobs: list[float],
        stop_ids: set[int], stop_strings: list[str], params: SamplingParams,
    ) -> Completion:
        """Cut a row after its first stop (EOS, stop token or stop string); the stop is kept."""
        end, reason = len(ids), "length"
        ends = stop_ids | (set() if params.ignore_eos else set(self.eos_ids))
        for position, token in enumerate(ids):
            if token in ends:
                end, reason = position + 1, "stop"
                break
        if stop_strings:
            cut = _first_stop_string_end(self.tokenizer, ids[:end], stop_strings, params.min_tokens)
            if cut is not None:
                end, reason = cut, "stop"
        ids, logprobs = ids[:end], logprobs[:end]
        text = self.tokenizer.decode([t for t in ids if t not in self.eos_ids], skip_special_tokens=False)
        return Completion(index, prompt_ids, ids, text, logprobs, reason)


def _first_stop_string_end(tokenizer: Any, ids: list[int], stops: list[str], min_tokens: int = 0) -> int | None:
    """Smallest k >= min_tokens such that decode(ids[:k]) contains a stop string, or None."""
    if not any(stop in tokenizer.decode(ids, skip_special_tokens=False) for stop in stops):
        return None
    for k in range(max(1, min_tokens), len(ids) + 1):
        text = tokenizer.decode(ids[:k], skip_special_tokens=False)
        if any(stop in text for stop in stops):
            return k
    return None


def _eos_ids(model: nn.Module, tokenizer: Any) -> list[int]:
    ids: list[int] = []
    generation_config = getattr(model, "generation_config", None)
    configured = getattr(generation_config, "eos_token_id", None)
    if isinstance(configured, int):
        ids.append(configured)
    elif configured:
        ids.extend(configured)
    if tokenizer.eos_token_id is not None and tokenizer.eos_token_id not in ids:
        ids.append(tokenizer.eos_token_id)
    if not ids:
        raise ValueError("the tokenizer and model define no EOS token; set tokenizer.eos_token")
    return ids
