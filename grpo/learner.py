"""The learner: owns the policy, its optimizer and the optional reference model; applies updates.

Runs inside a Ray actor (see grpo/cluster.py). When rollouts are colocated it also hosts the
generation engine on the very module it trains, so no weights ever move. With
trainer.world_size = N > 1 there are N learners, one per rank of a torch.distributed group, the
model sharded with FSDP2 (grpo/distributed.py). Every rank receives the whole batch and trains on
its share of each minibatch's rows; the losses are normalised by the minibatch's global token and
sequence counts (known to every rank, since every rank has the batch), and FSDP averages the
gradients, so N ranks take exactly the update one would. Each rank runs the same number of
micro-batches (padded with zero-weight ones), because FSDP's collectives must line up.
"""

from __future__ import annotations

import math
import os
import random
from pathlib import Path
from typing import Iterator

import numpy as np
import torch

from grpo import algorithms, learner_state
from grpo.allocator import configure_allocator
from grpo.batch import RolloutBatch
from grpo.config import Recipe, TrainerConfig
from grpo.distributed import all_reduce_sum, full, init_group, shard_model, split_rows
from grpo.moe import RouterStats, load_metrics
from grpo.optim import MasterWeightAdamW
from grpo.phase_memory import PhasePeaks
from grpo.policy import (
    CompletionLogprobs, load_model, load_tokenizer, resolve_device, resolve_dtype, training_attention,
)
from grpo.envs.episode import build_runner, sample
from grpo.rollout.base import Completion, SamplingParams


def loss_settings(recipe: Recipe) -> algorithms.LossSettings:
    """The objective's fixed knobs, read once from the recipe."""
    a = recipe.algorithm
    return algorithms.LossSettings(
        epsilon_low=a.epsilon_low, epsilon_high=a.epsilon_high, importance_level=a.importance_level,
        aggregation=a.loss_aggregation, beta=a.beta, kl_estimator=a.kl_estimator,
        max_tokens=recipe.rollout.max_completion_tokens, sampler_correction=a.sampler_correction,
        sampler_is_cap=a.sampler_is_cap,
    )


def lr_factor(step: int, trainer: TrainerConfig) -> float:
    """Multiplier of the base learning rate after `step` training steps: linear warmup, then decay."""
    if trainer.warmup_steps and step < trainer.warmup_steps:
        return (step + 1) / trainer.warmup_steps
    if trainer.lr_schedule == "constant":
        return 1.0
    progress = min(1.0, (step - trainer.warmup_steps) / max(1, trainer.steps - trainer.warmup_steps))
    if trainer.lr_schedule == "linear":
        return 1.0 - progress
    return 0.5 * (1.0 + math.cos(math.pi * progress))


def quiet_transformers() -> None:
    """Progress bars from every actor would interleave with the run's own progress line; the
    tokenizers library warns at every fork once it has run threads (set here, in the actor, since
    a cluster the run joins did not inherit the driver's environment)."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


class Learner:
    def __init__(self, recipe: Recipe, threads: int | None = None, rank: int = 0, world_size: int = 1):
        if threads:
            torch.set_num_threads(threads)
        quiet_transformers()
        seed_everything(recipe.seed)
        self.recipe = recipe
        self.rank, self.world_size = rank, world_size
        self.loss_settings = loss_settings(recipe)
        self.device = resolve_device(recipe.trainer.device)
        configure_allocator(recipe, self.device)  # before the first CUDA allocation
        if self.device.type == "cuda":
            torch.backends.cuda.matmul.allow_tf32 = True  # float32 matmuls (if any) on tensor cores
        self.tokenizer = load_tokenizer(recipe.model)
        self.skipped = 0  # updates skipped in the current step for a non-finite gradient
        self.engine = None
        self.episodes = None
        self._sync_comm = None
        if world_size == 1:
            self._build()
        # else: connect() joins the group first (its address is only known once every rank exists)

    def node_address(self) -> str:
        import ray

        return ray.util.get_node_ip_address()

    def node_id(self) -> str:
        import ray

        return ray.get_runtime_context().get_node_id()

    def gpu_identity(self) -> tuple[str, list[str]]:
        from grpo.cluster import gpu_identity

        return gpu_identity()

    def connect(self, address: str, port: int) -> None:
        """Sharded learners: join the process group, then build the sharded model and optimizer."""
        init_group(self.rank, self.world_size, address, port, self.device, self.recipe.trainer.dist_timeout_s)
        self._build()

    def _build(self) -> None:
        recipe, t = self.recipe, self.recipe.trainer
        sharded = self.world_size > 1
        # sharded: fp32 shards are the master weights (FSDP computes in bf16 on GPUs), loaded on the
        # host and moved to the device one shard at a time by fully_shard
        model_config = recipe.model.model_copy(update={"dtype": "float32"}) if sharded else recipe.model
        load_device = torch.device("cpu") if sharded else self.device
        self.model = load_model(model_config, load_device, run_device=self.device)
        self.model.train()
        self.scorer = CompletionLogprobs(self.model, t.packing)  # what every forward goes through (the FSDP root)
        self.router_stats = RouterStats(self.model)  # MoE policies: the experts' load, per step
        self.reference = self.reference_scorer = None
        if recipe.algorithm.beta > 0 and not recipe.model.lora.enabled:
            # with LoRA the reference is the same module with its adapter disabled: no second copy
            self.reference = load_model(model_config, load_device, trainable=False, run_device=self.device)
            self.reference_scorer = CompletionLogprobs(self.reference, t.packing)
        if sharded:
            self.scorer = shard_model(self.scorer, self.device)
            if self.reference_scorer is not None:
                self.reference_scorer = shard_model(self.reference_scorer, self.device)
        trainable = [p for p in self.model.parameters() if p.requires_grad]
        options = dict(lr=t.learning_rate, betas=t.adam_betas, weight_decay=t.weight_decay,
                       fused=self.device.type == "cuda" and not sharded)
        low_precision = any(p.dtype in (torch.bfloat16, torch.float16) for p in trainable)
        if low_precision and t.master_weights != "none":
            self.optimizer = MasterWeightAdamW(trainable, **options)
            schedulable = self.optimizer.inner
        else:
            self.optimizer = schedulable = torch.optim.AdamW(trainable, **options)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(schedulable, lambda step: lr_factor(step, t))
        self.peaks = None
        if self.device.type == "cuda":
            device = self.device
            self.peaks = PhasePeaks(lambda: torch.cuda.max_memory_allocated(device),
                                    lambda: torch.cuda.reset_peak_memory_stats(device), self._engine_unheld)
        if recipe.rollout.colocate:
            from grpo.rollout.factory import build_engine

            self.engine = build_engine(recipe, self.tokenizer, model=self.model, colocated=True)

            self.episodes = build_runner(recipe.env, self.tokenizer)
        if self.peaks is not None:
            # loading the model, the optimizer and a colocated engine: its own phase, so the first
            # step's generation peak is generation's (a LoRA run that shares vLLM's base weights
            # peaked at start-up, 44.6 GiB at 7B, and generated at 31.5)
            self.peaks.end_phase("startup")

    # ------------------------------------------------------------------ rollout (colocated)

    def generate(self, prompts: list[str], params: SamplingParams, rows: list[dict] | None = None) -> list[Completion]:
        """`rows`: the prompts' dataset rows, which a multi-turn environment starts from."""
        if self.engine is None:
            raise RuntimeError("generate() on the learner needs rollout.colocate=true")
        completions = sample(self.engine, self.episodes, prompts, rows, params)
        if self.peaks is not None:
            self.peaks.end_phase("generate")
        return completions

    def _engine_unheld(self) -> int:
        """What a colocated vLLM released by sleeping through the phase just ended (torch still
        counts it; see VLLMEngine.take_released_low); 0 for the transformers engine."""
        take = getattr(self.engine, "take_released_low", None)
        return take() if take is not None else 0

    def pad_token_id(self) -> int:
        return int(self.tokenizer.pad_token_id)

    def export_weights(self, dtype: torch.dtype | None = None) -> dict[str, torch.Tensor] | None:
        """The full weights on the host (rank 0; every rank takes part in gathering them)."""
        return learner_state.full_weights(self, dtype)

    def serving_dtype(self) -> torch.dtype:
        """The precision the rollout engines hold (a sharded learner computes in it from fp32 shards)."""
        return resolve_dtype(self.recipe.model.dtype, self.device)

    def share_weights(self) -> object:
        """The full weights in the engines' precision, packed into one flat buffer and put into
        Ray's object store by rank 0 itself: the driver passes the reference on to the rollout
        workers and never holds (or copies) the weights. Other ranks take part in the gather and
        return None."""
        import ray

        weights = learner_state.packed_weights(self, self.serving_dtype())
        return ray.put(weights) if weights is not None else None

    def _weights_changed(self) -> float:
        """After an update or a restore: a colocated vLLM engine holds its own copy of the weights
        and takes the new ones (LoRA: the adapter alone). Returns the seconds it took."""
        if self.engine is None or self.recipe.rollout.engine != "vllm":
            return 0.0  # the transformers engine generates with self.model itself
        import time

        t0 = time.time()
        if self.recipe.model.lora.enabled:
            self.engine.load_adapter(lambda directory: self.model.save_pretrained(directory))
        else:
            self.engine.refresh()
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        return time.time() - t0

    # ------------------------------------------------------------------ weight sync (separate vLLM)

    def sync_address(self) -> str:
        return self.node_address()

    def open_sync_group(self, address: str, port: int, world_size: int) -> None:
        """Join the trainer/rollout NCCL group as rank 0; blocks until every rollout worker has
        joined (call it together with their join_sync_group)."""
        from vllm.distributed.weight_transfer.nccl_common import stateless_init_process_group

        # NCCL wants the device with its index (tensors report cuda:0, not cuda)
        device = torch.device("cuda", torch.cuda.current_device())
        self._sync_comm = stateless_init_process_group(address, port, 0, world_size, device)

    def export_adapter(self) -> tuple[dict[str, torch.Tensor], dict]:
        """LoRA: the adapter alone (CPU tensors, PEFT names) and its config, for a separate engine."""
        from peft import get_peft_model_state_dict

        state = {k: v.detach().cpu() for k, v in get_peft_model_state_dict(self.model).items()}
        return state, self.model.peft_config["default"].to_dict()

    def sync_plan(self, bucket_bytes: int) -> list:
        """The buckets, in the engines' precision (a sharded learner's fp32 shards are cast on
        the way: half the bytes on the wire)."""
        from grpo.rollout.weight_sync import engine_weights, metadata, plan_buckets

        dtype = self.serving_dtype()
        metas = [(name, dtype if kind.is_floating_point else kind, shape)
                 for name, kind, shape in metadata(dict(engine_weights(self.model)))]
        return plan_buckets(metas, bucket_bytes)

    def broadcast_weights(self, plan: list) -> float:
        """Send every bucket to the vLLM workers (GPU to GPU, no host copy); returns seconds. Sharded
        learners gather the parameters of one bucket at a time (every rank takes part) and rank 0
        sends, so no GPU holds more than one bucket of the full weights beyond its own shard."""
        import time

        from grpo.rollout.weight_sync import engine_weights, send_buckets

        t0 = time.time()
        device = torch.device("cuda", torch.cuda.current_device())
        params = dict(engine_weights(self.model))  # shards or the tensors themselves: no copies yet

        def gather(bucket) -> dict[str, torch.Tensor]:
            return {slot.name: full(params[slot.name]).to(slot.dtype) for slot in bucket.slots}

        if self.rank == 0:
            comm = self._sync_comm
            send_buckets(plan, gather, lambda tensor, src: comm.broadcast(tensor, src=src), device)
        else:
            for bucket in plan:  # the gathers are collectives: rank 0 waits for this rank's part
                gather(bucket)
        torch.cuda.synchronize(device)
        return time.time() - t0

    # ------------------------------------------------------------------ log-probs

    @torch.no_grad()
    def _logprobs(self, scorer: torch.nn.Module, batch: RolloutBatch) -> torch.Tensor:
        """(B, C) log-probs of every completion under `scorer`'s model, no gradient; each rank
        scores its rows and the group sums the (otherwise zero) results."""
        out = torch.zeros_like(batch.completion_mask)
        for rows, weight in self._my_microbatches(batch, torch.arange(len(batch))):
            part = batch.select(rows)
            logp, _ = self._forward(scorer, part, with_entropy=False)
            if weight:
                out[rows, : logp.shape[1]] = logp.float().cpu()
        if self.world_size > 1:
            import torch.distributed as dist

            out = out.to(self.device)
            dist.all_reduce(out)
            out = out.cpu()
        return out

    def _microbatches(self, batch: RolloutBatch, rows: torch.Tensor) -> list[torch.Tensor]:
        trainer = self.recipe.trainer
        return batch.split(rows, trainer.microbatch_size, trainer.microbatch_tokens, trainer.packing)

    def _my_microbatches(self, batch: RolloutBatch, rows: torch.Tensor) -> list[tuple[torch.Tensor, float]]:
        """This rank's micro-batches of `rows` (its contiguous share), each with weight 1, padded with
        weight-0 ones (a real row, its loss multiplied by 0) to the largest count of any rank."""
        if self.world_size == 1:
            return [(part, 1.0) for part in self._microbatches(batch, rows)]
        shares = [rows[a:b] for a, b in split_rows(len(rows), self.world_size)]
        counts = [len(self._microbatches(batch, share)) if len(share) else 0 for share in shares]
        mine = self._microbatches(batch, shares[self.rank]) if len(shares[self.rank]) else []
        return [(part, 1.0) for part in mine] + [(rows[:1], 0.0)] * (max(counts) - len(mine))

    def _forward(self, scorer: torch.nn.Module, part: RolloutBatch, with_entropy: bool,
                 temperature: float | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Completion log-probs (B, T); GRPO scores at the sampling temperature, SFT at 1."""
        with training_attention(self.device):  # no cuDNN attention: its backward can return NaN
            return scorer(
                part.input_ids.to(self.device), part.attention_mask.to(self.device), part.completion_mask.shape[1],
                temperature=self.recipe.rollout.temperature if temperature is None else temperature,
                with_entropy=with_entropy, chunk_size=self.recipe.trainer.logprob_chunk_tokens,
            )

    def reference_logprobs(self, batch: RolloutBatch) -> torch.Tensor:
        if self.reference_scorer is not None:
            return self._logprobs(self.reference_scorer, batch)
        with self.model.disable_adapter():  # LoRA: the base weights are the reference
            return self._logprobs(self.scorer, batch)

    # ------------------------------------------------------------------ update

    def train_step(self, batch: RolloutBatch, step: int) -> dict[str, float]:
        """mu epochs of minibatch updates on one rollout batch; returns the step's training metrics.

        Old log-probs are recomputed only when some update happens after the first (mu > 1 or several
        minibatches); otherwise the policy is still the sampling policy and log pi_old = sg[log pi].
        """
        trainer = self.recipe.trainer
        if self.recipe.algorithm.overlong_filtering:
            batch.completion_mask = batch.completion_mask * algorithms.overlong_mask(batch.truncated)[:, None]
        minibatch = trainer.minibatch_size or len(batch)
        on_policy = trainer.epochs_per_step == 1 and minibatch == len(batch)
        old_logprobs = None if on_policy else self._logprobs(self.scorer, batch)
        stats: dict[str, list[float]] = {}
        losses: list[float] = []  # micro-batch losses; those of one minibatch sum to its loss
        self.model.train()
        self.skipped = 0
        self.router_stats.take()  # count this step's training tokens only
        for epoch, rows in self._minibatches(len(batch), minibatch, step, on_policy):
            losses += self._update(batch, rows, old_logprobs, epoch == 0, stats)
        updates = trainer.epochs_per_step * (len(batch) // minibatch)
        stats, loss_total = self._reduce(stats, losses)
        metrics = {f"train/{name}": value for name, value in _weighted_means(stats).items()}
        metrics["train/loss"] = loss_total / updates
        if self.skipped:  # the driver warns, and stops after several steps in a row
            metrics["train/skipped_updates"] = float(self.skipped)
            metrics["train/all_skipped"] = float(self.skipped == updates)
        metrics["train/lr"] = self.optimizer.param_groups[0]["lr"]
        if old_logprobs is not None:
            gap = (old_logprobs - batch.sampler_logprobs).abs() * batch.completion_mask
            metrics["rollout/logprob_gap"] = float(gap.sum() / batch.completion_mask.sum().clamp(min=1))
        if self.router_stats:
            counts = self.router_stats.take()
            if self.world_size > 1:
                import torch.distributed as dist

                counts = counts.to(self.device)
                dist.all_reduce(counts)
            metrics.update(load_metrics(counts.cpu()))
        return self._end_step(metrics)

    def sft_step(self, batch: RolloutBatch, step: int) -> dict[str, float]:
        """One optimizer step of supervised fine-tuning on `batch` (prompt + completion rows): the
        negative log-likelihood of the completion tokens at temperature 1, accumulated over
        micro-batches, with the same model, optimizer, precision and checkpoints as GRPO."""
        num_tokens = float(batch.completion_mask.sum())
        losses = []
        self.model.train()
        for rows, weight in self._my_microbatches(batch, torch.arange(len(batch))):
            part = batch.select(rows)
            logp, _ = self._forward(self.scorer, part, with_entropy=False, temperature=1.0)  # (b, T)
            loss = algorithms.sft_loss(logp, part.completion_mask.to(self.device), num_tokens) * weight
            with training_attention(self.device):  # recomputed layers (checkpointing) pick a kernel again
                (loss * self.world_size).backward()  # FSDP averages gradients over ranks: undo the 1/N
            losses.append(float(loss.detach()))
        grad_norm = full(torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.recipe.trainer.max_grad_norm))
        finite = bool(torch.isfinite(grad_norm))
        if finite:
            self._optimizer_step()
        # else skip it, as a GRPO update is skipped: clipping by an infinite norm writes NaN into
        # every weight, and one batch of a sound run can meet a kernel's bug (pytorch#196678 did)
        self.optimizer.zero_grad(set_to_none=True)
        _, loss_total = self._reduce({}, losses)
        metrics = {"train/loss": loss_total, "train/lr": self.optimizer.param_groups[0]["lr"], "train/tokens": num_tokens}
        if finite:
            metrics["train/grad_norm"] = float(grad_norm)
        else:  # the driver warns, and stops after several steps in a row (grpo/watch.py)
            metrics["train/skipped_updates"] = metrics["train/all_skipped"] = 1.0
        return self._end_step(metrics)

    def _optimizer_step(self) -> None:
        """The optimizer's step, its peak apart from forward/backward's (`memory/optimizer_peak_gib`):
        with recomputed activations the step (gradients, masters, Adam state) can set the peak."""
        if self.peaks is not None:
            self.peaks.end_phase("train")
        self.optimizer.step()
        if self.peaks is not None:
            self.peaks.end_phase("optimizer")

    def _end_step(self, metrics: dict[str, float]) -> dict[str, float]:
        self.scheduler.step()
        metrics["time/engine_sync"] = self._weights_changed()
        if self.peaks is not None:
            # the peak since the last step, split into its generation (colocated), forward/backward
            # and optimizer step
            self.peaks.end_phase("train")
            metrics.update(self.peaks.metrics())
            if self.world_size > 1:  # every rank's own peak (a collective): shards need not be equal
                mine = [metrics["memory/peak_gib"] if r == self.rank else 0.0 for r in range(self.world_size)]
                for r, peak in enumerate(all_reduce_sum(mine, self.device)):
                    metrics[f"memory/peak_gib_rank{r}"] = peak
        return metrics

    def _reduce(self, stats: dict[str, list[float]], losses: list[float]) -> tuple[dict[str, list[float]], float]:
        """Sum the ranks' shares: weighted statistics (their weights are shares of the global token
        count) and the loss, which each rank computed over its rows against the global normalisers."""
        if self.world_size == 1:
            return stats, sum(losses)
        names = sorted(stats)
        flat = [v for name in names for v in stats[name]] + [sum(losses)]
        summed = all_reduce_sum(flat, self.device)
        return {name: summed[2 * i : 2 * i + 2] for i, name in enumerate(names)}, summed[-1]

    def _minibatches(self, size: int, minibatch: int, step: int, on_policy: bool) -> Iterator[tuple[int, torch.Tensor]]:
        """(epoch, row indices) of every minibatch: in order on the single on-policy pass, else a
        permutation per epoch drawn from (seed, step), so a resumed run draws the same ones."""
        generator = torch.Generator().manual_seed(self.recipe.seed * 1_000_003 + step)
        for epoch in range(self.recipe.trainer.epochs_per_step):
            order = torch.randperm(size, generator=generator) if epoch or not on_policy else torch.arange(size)
            for start in range(0, size, minibatch):
                yield epoch, order[start : start + minibatch]

    def _update(self, batch: RolloutBatch, rows: torch.Tensor, old_logprobs: torch.Tensor | None, with_entropy: bool,
                stats: dict[str, list[float]]) -> list[float]:
        """One optimizer step on minibatch `rows`, gradients accumulated over its micro-batches."""
        num_tokens = float(batch.completion_mask[rows].sum())
        losses = [
            self._backward(batch, part, weight, old_logprobs, float(len(rows)), num_tokens, with_entropy, stats)
            for part, weight in self._my_microbatches(batch, rows)
        ]
        grad_norm = full(torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.recipe.trainer.max_grad_norm))
        if not torch.isfinite(grad_norm):
            # a NaN/inf loss or gradient: skip this update rather than write NaN into the weights
            self.optimizer.zero_grad(set_to_none=True)
            self.skipped += 1
            return losses
        # the global norm, the same on every rank: counted once (every rank keeps the key, so the
        # ranks' statistics reduce element by element)
        _accumulate(stats, "grad_norm", float(grad_norm), 1.0 if self.rank == 0 else 0.0)
        self._optimizer_step()
        self.optimizer.zero_grad(set_to_none=True)
        return losses

    def _backward(self, batch: RolloutBatch, rows: torch.Tensor, scale: float, old_logprobs: torch.Tensor | None,
                  num_sequences: float, num_tokens: float, with_entropy: bool, stats: dict[str, list[float]]) -> float:
        """Loss and backward of one micro-batch, normalised by its minibatch's totals; returns the
        loss. scale 0: a filler micro-batch that only keeps the ranks' collectives in step."""
        part = batch.select(rows)
        logp, entropy = self._forward(self.scorer, part, with_entropy=with_entropy)  # (b, T)
        mask = part.completion_mask.to(self.device)
        old = logp.detach() if old_logprobs is None else old_logprobs[rows, : logp.shape[1]].to(self.device)
        ref = None if part.ref_logprobs is None else part.ref_logprobs.to(self.device)
        loss, loss_stats = algorithms.policy_loss(
            logp, old, part.advantages.to(self.device), mask, self.loss_settings, ref_logprobs=ref,
            sampler_logprobs=part.sampler_logprobs.to(self.device), num_sequences=num_sequences, num_tokens=num_tokens,
        )
        loss = loss * scale
        with training_attention(self.device):  # recomputed layers (checkpointing) pick a kernel again
            (loss * self.world_size).backward()  # FSDP averages gradients over ranks: undo the 1/N
        weight = scale * float(mask.sum()) / max(num_tokens, 1.0)
        for name, value in loss_stats.items():
            _accumulate(stats, name, float(value), weight)
        if entropy is not None:
            _accumulate(stats, "entropy", float((entropy * mask).sum() / mask.sum().clamp(min=1)), weight)
        return float(loss.detach())

    # ------------------------------------------------------------------ state (grpo/learner_state.py)

    def save(self, directory: str) -> None:
        learner_state.save(self, Path(directory))

    def load(self, directory: str) -> None:
        learner_state.load(self, Path(directory))
        self._weights_changed()

    def gradient_vector(self, batch: RolloutBatch) -> torch.Tensor:
        """The gradient of the whole batch as one minibatch, flattened, without an update (float32,
        CPU; every rank takes part): to compare one learner with a sharded group, or two settings."""
        stats: dict[str, list[float]] = {}
        rows = torch.arange(len(batch))
        num_tokens = float(batch.completion_mask.sum())
        for part, weight in self._my_microbatches(batch, rows):
            self._backward(batch, part, weight, None, float(len(rows)), num_tokens, False, stats)
        vector = torch.cat([full(p.grad).float().cpu().reshape(-1) for p in self.model.parameters() if p.requires_grad])
        self.optimizer.zero_grad(set_to_none=True)
        return vector

    def parameter_vector(self) -> torch.Tensor:
        """All trainable parameters flattened (float32, CPU): for tests and change checks."""
        return torch.cat([full(p.detach()).float().cpu().reshape(-1) for p in self.model.parameters() if p.requires_grad])


def _accumulate(stats: dict[str, list[float]], name: str, value: float, weight: float) -> None:
    entry = stats.setdefault(name, [0.0, 0.0])
    entry[0] += value * weight
    entry[1] += weight


def _weighted_means(stats: dict[str, list[float]]) -> dict[str, float]:
    return {name: total / weight if weight else 0.0 for name, (total, weight) in stats.items()}
