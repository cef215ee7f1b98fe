"""The learner: owns the policy, its optimizer and the optional reference model; applies updates.

Runs inside a Ray actor (see grpo/cluster.py). When rollouts are colocated it also hosts the
generation engine on the very module it trains, so no weights ever move.
"""

from __future__ import annotations

import math
import random
from pathlib import Path
from typing import Iterator

import numpy as np
import torch

from grpo import algorithms
from grpo.batch import RolloutBatch
from grpo.config import Recipe, TrainerConfig
from grpo.optim import MasterWeightAdamW
from grpo.policy import completion_logprobs, export_weights, load_model, load_tokenizer, resolve_device, unwrap
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
    """Progress bars from every actor would interleave with the run's own progress line."""
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


class Learner:
    def __init__(self, recipe: Recipe, threads: int | None = None):
        if threads:
            torch.set_num_threads(threads)
        quiet_transformers()
        seed_everything(recipe.seed)
        self.recipe = recipe
        self.loss_settings = loss_settings(recipe)
        self.device = resolve_device(recipe.trainer.device)
        if self.device.type == "cuda":
            torch.backends.cuda.matmul.allow_tf32 = True  # float32 matmuls (if any) on tensor cores
        self.tokenizer = load_tokenizer(recipe.model)
        self.model = load_model(recipe.model, self.device)
        self.model.train()
        self.reference = None
        if recipe.algorithm.beta > 0 and not recipe.model.lora.enabled:
            # with LoRA the reference is the same module with its adapter disabled: no second copy
            self.reference = load_model(recipe.model, self.device, trainable=False)
        trainable = [p for p in self.model.parameters() if p.requires_grad]
        t = recipe.trainer
        options = dict(lr=t.learning_rate, betas=t.adam_betas, weight_decay=t.weight_decay, fused=self.device.type == "cuda")
        low_precision = any(p.dtype in (torch.bfloat16, torch.float16) for p in trainable)
        if low_precision and t.master_weights != "none":
            self.optimizer = MasterWeightAdamW(trainable, **options)
            schedulable = self.optimizer.inner
        else:
            self.optimizer = schedulable = torch.optim.AdamW(trainable, **options)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(schedulable, lambda step: lr_factor(step, t))
        self.skipped = 0  # updates skipped in the current step for a non-finite gradient
        self.engine = None
        if recipe.rollout.colocate:
            from grpo.rollout.factory import build_engine

            self.engine = build_engine(recipe, self.tokenizer, model=self.model, colocated=True)
        self._sync_comm = None

    # ------------------------------------------------------------------ rollout (colocated)

    def generate(self, prompts: list[str], params: SamplingParams) -> list[Completion]:
        if self.engine is None:
            raise RuntimeError("generate() on the learner needs rollout.colocate=true")
        return self.engine.generate(prompts, params)

    def pad_token_id(self) -> int:
        return int(self.tokenizer.pad_token_id)

    def export_weights(self) -> dict[str, torch.Tensor]:
        return export_weights(self.model)

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
        import ray

        return ray.util.get_node_ip_address()

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
        from grpo.rollout.weight_sync import engine_weights, metadata, plan_buckets

        return plan_buckets(metadata(dict(engine_weights(self.model))), bucket_bytes)

    def broadcast_weights(self, plan: list) -> float:
        """Rank 0 of the sync group: send every bucket (GPU to GPU, no host copy); returns seconds."""
        import time

        from grpo.rollout.weight_sync import engine_weights, send_buckets

        t0 = time.time()
        comm = self._sync_comm
        device = torch.device("cuda", torch.cuda.current_device())
        send_buckets(plan, dict(engine_weights(self.model)), lambda tensor, src: comm.broadcast(tensor, src=src), device)
        torch.cuda.synchronize(device)
        return time.time() - t0


    # ------------------------------------------------------------------ log-probs

    @torch.no_grad()
    def _logprobs(self, model: torch.nn.Module, batch: RolloutBatch) -> torch.Tensor:
        """(B, C) log-probs of every completion under `model`, micro-batched, no gradient."""
        out = torch.zeros_like(batch.completion_mask)
        for rows in self._microbatches(batch, torch.arange(len(batch))):
            part = batch.select(rows)
            logp, _ = self._forward(model, part, with_entropy=False)
            out[rows, : logp.shape[1]] = logp.float().cpu()
        return out

    def _microbatches(self, batch: RolloutBatch, rows: torch.Tensor) -> list[torch.Tensor]:
        trainer = self.recipe.trainer
        return batch.split(rows, trainer.microbatch_size, trainer.microbatch_tokens)

    def _forward(self, model: torch.nn.Module, part: RolloutBatch, with_entropy: bool,
                 temperature: float | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Completion log-probs (B, T) under `model`; GRPO scores at the sampling temperature, SFT at 1."""
        return completion_logprobs(
            model,
            part.input_ids.to(self.device),
            part.attention_mask.to(self.device),
            part.completion_mask.shape[1],
            temperature=self.recipe.rollout.temperature if temperature is None else temperature,
            with_entropy=with_entropy,
            chunk_size=self.recipe.trainer.logprob_chunk_tokens,
        )

    def reference_logprobs(self, batch: RolloutBatch) -> torch.Tensor:
        if self.reference is not None:
            return self._logprobs(self.reference, batch)
        with self.model.disable_adapter():  # LoRA: the base weights are the reference
            return self._logprobs(self.model, batch)

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
        old_logprobs = None if on_policy else self._logprobs(self.model, batch)
        stats: dict[str, list[float]] = {}
        losses: list[float] = []  # micro-batch losses; those of one minibatch sum to its loss
        self.model.train()
        self.skipped = 0
        for epoch, rows in self._minibatches(len(batch), minibatch, step, on_policy):
            losses += self._update(batch, rows, old_logprobs, epoch == 0, stats)
        updates = trainer.epochs_per_step * (len(batch) // minibatch)
        metrics = {f"train/{name}": value for name, value in _weighted_means(stats).items()}
        metrics["train/loss"] = sum(losses) / updates
        if self.skipped:  # the driver warns, and stops after several steps in a row
            metrics["train/skipped_updates"] = float(self.skipped)
            metrics["train/all_skipped"] = float(self.skipped == updates)
        metrics["train/lr"] = self.optimizer.param_groups[0]["lr"]
        if old_logprobs is not None:
            gap = (old_logprobs - batch.sampler_logprobs).abs() * batch.completion_mask
            metrics["rollout/logprob_gap"] = float(gap.sum() / batch.completion_mask.sum().clamp(min=1))
        self.scheduler.step()
        metrics["time/engine_sync"] = self._weights_changed()
        if self.device.type == "cuda":
            # the peak since the last step: this step's generation (colocated) and its update
            metrics["memory/peak_gib"] = torch.cuda.max_memory_allocated(self.device) / 2**30
            torch.cuda.reset_peak_memory_stats(self.device)
        return metrics

    def sft_step(self, batch: RolloutBatch, step: int) -> dict[str, float]:
        """One optimizer step of supervised fine-tuning on `batch` (prompt + completion rows): the
        negative log-likelihood of the completion tokens at temperature 1, accumulated over
        micro-batches, with the same model, optimizer, precision and checkpoints as GRPO."""
        num_tokens = float(batch.completion_mask.sum())
        losses = []
        self.model.train()
        for rows in self._microbatches(batch, torch.arange(len(batch))):
            part = batch.select(rows)
            logp, _ = self._forward(self.model, part, with_entropy=False, temperature=1.0)  # (b, T)
            mask = part.completion_mask.to(self.device)
            loss = algorithms.sft_loss(logp, mask, num_tokens)
            loss.backward()
            losses.append(float(loss.detach()))
        grad_norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.recipe.trainer.max_grad_norm)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        metrics = {"train/loss": sum(losses), "train/grad_norm": float(grad_norm),
                   "train/lr": self.optimizer.param_groups[0]["lr"], "train/tokens": num_tokens}
        self.scheduler.step()
        metrics["time/engine_sync"] = self._weights_changed()
        if self.device.type == "cuda":
            metrics["memory/peak_gib"] = torch.cuda.max_memory_allocated(self.device) / 2**30
            torch.cuda.reset_peak_memory_stats(self.device)
        return metrics

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
            self._backward(batch, part, old_logprobs, float(len(rows)), num_tokens, with_entropy, stats)
            for part in self._microbatches(batch, rows)
        ]
        grad_norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.recipe.trainer.max_grad_norm)
        if not torch.isfinite(grad_norm):
            # a NaN/inf loss or gradient: skip this update rather than write NaN into the weights
            self.optimizer.zero_grad(set_to_none=True)
            self.skipped += 1
            return losses
        _accumulate(stats, "grad_norm", float(grad_norm), 1.0)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        return losses

    def _backward(self, batch: RolloutBatch, rows: torch.Tensor, old_logprobs: torch.Tensor | None, num_sequences: float,
                  num_tokens: float, with_entropy: bool, stats: dict[str, list[float]]) -> float:
        """Loss and backward of one micro-batch, normalised by its minibatch's totals; returns the loss."""
        part = batch.select(rows)
        logp, entropy = self._forward(self.model, part, with_entropy=with_entropy)  # (b, T)
        mask = part.completion_mask.to(self.device)
        old = logp.detach() if old_logprobs is None else old_logprobs[rows, : logp.shape[1]].to(self.device)
        ref = None if part.ref_logprobs is None else part.ref_logprobs.to(self.device)
        loss, loss_stats = algorithms.policy_loss(
            logp, old, part.advantages.to(self.device), mask, self.loss_settings, ref_logprobs=ref,
            sampler_logprobs=part.sampler_logprobs.to(self.device), num_sequences=num_sequences, num_tokens=num_tokens,
        )
        loss.backward()
        weight = float(mask.sum()) / max(num_tokens, 1.0)
        for name, value in loss_stats.items():
            _accumulate(stats, name, float(value), weight)
        if entropy is not None:
            _accumulate(stats, "entropy", float((entropy * mask).sum() / mask.sum().clamp(min=1)), weight)
        return float(loss.detach())

    # ------------------------------------------------------------------ state

    def save(self, directory: str) -> None:
        """`model/`: a full Hugging Face checkpoint (LoRA merged in) anyone can load; `adapter/`: the
        LoRA adapter alone, which resume restores; `learner_state.pt`: optimizer, schedule, RNG."""
        bad = next((name for name, p in self.model.named_parameters() if not torch.isfinite(p).all()), None)
        if bad is not None:
            raise ValueError(f"refusing to save non-finite weights (parameter {bad} holds NaN or inf)")
        path = Path(directory)
        path.mkdir(parents=True, exist_ok=True)
        base = unwrap(self.model)
        if base is not self.model:
            self.model.save_pretrained(path / "adapter", safe_serialization=True)
            merged = {name: tensor for name, tensor in export_weights(self.model).items()}
            base.save_pretrained(path / "model", state_dict=merged, safe_serialization=True)
            # save_pretrained of a PEFT-injected module writes an adapter config beside the weights
            for stray in ("adapter_config.json", "adapter_model.safetensors"):
                (path / "model" / stray).unlink(missing_ok=True)
        else:
            self.model.save_pretrained(path / "model", safe_serialization=True)
        self.tokenizer.save_pretrained(path / "model")
        torch.save(
            {
                "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(),
                "torch_rng": torch.get_rng_state(),
                "python_rng": random.getstate(),
                "numpy_rng": np.random.get_state(),
            },
            path / "learner_state.pt",
        )

    def load(self, directory: str) -> None:
        path = Path(directory)
        weights = path / "model"
        if self.recipe.model.lora.enabled:
            from peft import set_peft_model_state_dict
            from safetensors.torch import load_file

            set_peft_model_state_dict(self.model, load_file(str(path / "adapter" / "adapter_model.safetensors")))
        else:
            from safetensors.torch import load_file

            state = {}
            for shard in sorted(weights.glob("*.safetensors")):
                state.update(load_file(str(shard)))
            missing, unexpected = unwrap(self.model).load_state_dict(state, strict=False)
            missing = [m for m in missing if not m.endswith("lm_head.weight")]
            if missing or unexpected:
                raise RuntimeError(f"checkpoint {weights} does not match the model: missing {missing[:3]}, unexpected {unexpected[:3]}")
        self._weights_changed()
        saved = torch.load(path / "learner_state.pt", weights_only=False)
        self.optimizer.load_state_dict(saved["optimizer"])
        self.scheduler.load_state_dict(saved["scheduler"])
        torch.set_rng_state(saved["torch_rng"])
        random.setstate(saved["python_rng"])
        np.random.set_state(saved["numpy_rng"])

    def parameter_vector(self) -> torch.Tensor:
        """All trainable parameters flattened (float32, CPU): for tests and change checks."""
        return torch.cat([p.detach().float().cpu().reshape(-1) for p in self.model.parameters() if p.requires_grad])


def _accumulate(stats: dict[str, list[float]], name: str, value: float, weight: float) -> None:
    entry = stats.setdefault(name, [0.0, 0.0])
    entry[0] += value * weight
    entry[1] += weight


def _weighted_means(stats: dict[str, list[float]]) -> dict[str, float]:
    return {name: total / weight if weight else 0.0 for name, (total, weight) in stats.items()}
