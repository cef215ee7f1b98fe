"""Supervised fine-tuning: the `sft` and `distill` stages of a pipeline (R1's cold start, its SFT on
rejection-sampled traces, and distillation into a small student).

Built on the GRPO learner rather than on TRL's SFTTrainer: the same actor owns the model, the
optimizer (fp32 master weights for bf16), LoRA, chunked log-probs, gradient checkpointing and the
checkpoint format, so an SFT stage's output is exactly what the next GRPO stage resumes from and a
fix to any of those lands in both. Only the loss differs (`algorithms.sft_loss`: completion tokens
only, prompt masked). Texts are tokenised here with the stage's own tokenizer, so a student whose
tokenizer differs from the teacher's never sees the teacher's ids.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from typing import Any

import ray

from grpo.batch import RolloutBatch, build_batch
from grpo.cluster import init_ray, shutdown, start_actors
from grpo.config import Recipe
from grpo.data import DataError, render_prompt
from grpo.lock import RunLock
from grpo.logging import RunLogger, read_metrics
from grpo.model_source import prepare
from grpo.rollout.base import Completion
from grpo.trainer import (
    RunSummary, evaluate_and_log, load_data, prepare_run_dir, restore, save_checkpoint, stop_at_time_limit, sync_weights,
)
from grpo.watch import RunWatch

# A megabatch of this many batches is sorted by length before being cut into batches (the
# scheme of transformers' LengthGroupedSampler): less padding, while batch order stays random.
MEGABATCH = 8


@dataclass(frozen=True)
class Example:
    prompt_ids: list[int]
    completion_ids: list[int]  # the target, ending with EOS so the model learns to stop
    completion_mask: list[int] | None = None  # 0 on tokens of sft.mask_spans (no loss); None: all trained


def encode_examples(rows: list[dict[str, Any]], recipe: Recipe, tokenizer: Any) -> tuple[list[Example], int]:
    """(prompt, completion) rows -> token ids under the recipe's template; returns the examples and
    how many were dropped for exceeding sft.max_tokens (default: the model's context)."""
    column, template = recipe.sft.completion_column, recipe.sft.completion_format
    if template is not None:
        try:
            rows = [{**row, column: template.format(**row)} for row in rows]
        except (KeyError, IndexError, ValueError) as err:
            raise DataError(f"sft.completion_format = {template!r}: cannot fill it from the columns of data.train "
                            f"({sorted(rows[0]) if rows else []}): {type(err).__name__}: {err}") from None
    if rows and column not in rows[0]:
        raise DataError(
            f"sft.completion_column = {column!r} is not a column of data.train (columns: {sorted(rows[0])}); "
            "set it to the column holding the target completion, or read data.train.stage from a generate stage"
        )
    limit = recipe.sft.max_tokens or getattr(tokenizer, "model_max_length", None) or 10**9
    bos = [tokenizer.bos_token_id] if tokenizer.bos_token_id is not None and getattr(tokenizer, "add_bos_token", False) else []
    examples, dropped = [], 0
    for index, row in enumerate(rows):
        completion = row.get(column)
        if not isinstance(completion, str) or not completion.strip():
            raise DataError(f"data.train row {index}: {column!r} is empty or not text; every SFT row needs a completion")
        prompt_ids = bos + tokenizer(render_prompt(row["prompt"], recipe.data, tokenizer), add_special_tokens=False)["input_ids"]
        if recipe.sft.mask_spans:
            completion_ids, mask = masked_tokens(tokenizer, completion, recipe.sft.mask_spans)
            completion_ids, mask = completion_ids + [tokenizer.eos_token_id], mask + [1]
        else:
            completion_ids, mask = tokenizer(completion, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id], None
        if len(prompt_ids) + len(completion_ids) > limit:
            dropped += 1
            continue
        examples.append(Example(prompt_ids, completion_ids, mask))
    return examples, dropped


def masked_tokens(tokenizer: Any, text: str, spans: list[tuple[str, str]]) -> tuple[list[int], list[int]]:
    """Token ids of `text` and a mask that is 0 on every token overlapping a span from a start marker
    to the next end marker (both included): what an environment, not the policy, would write."""
    ranges = []
    for start, end in spans:
        position = text.find(start)
        while position >= 0:
            closing = text.find(end, position + len(start))
            stop = len(text) if closing < 0 else closing + len(end)
            ranges.append((position, stop))
            position = text.find(start, stop)
    try:
        encoded = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    except NotImplementedError:
        raise DataError("sft.mask_spans needs a fast tokenizer (one with offset mappings)") from None
    mask = [0 if any(a < hi and b > lo for lo, hi in ranges) else 1 for a, b in encoded["offset_mapping"]]
    return list(encoded["input_ids"]), mask


def batch_plan(lengths: list[int], batch_size: int, epochs: int, seed: int, group_by_length: bool) -> list[list[int]]:
    """Example indices of every optimizer step, all epochs, deterministic in `seed` (a resumed run
    recomputes it and continues at its step). The last partial batch of an epoch is kept."""
    plan = []
    for epoch in range(epochs):
        order = list(range(len(lengths)))
        rng = random.Random(f"sft-{seed}-{epoch}")
        rng.shuffle(order)
        if group_by_length:
            span = batch_size * MEGABATCH
            order = [i for start in range(0, len(order), span)
                     for i in sorted(order[start : start + span], key=lambda i: -lengths[i])]
        batches = [order[start : start + batch_size] for start in range(0, len(order), batch_size)]
        if group_by_length:
            rng.shuffle(batches)
        plan += batches
    return plan


def sft_batch(examples: list[Example], pad_id: int) -> RolloutBatch:
    """The padded tensors the learner consumes (prompt left-padded, completion right-padded)."""
    completions = [Completion(i, e.prompt_ids, e.completion_ids, "", [0.0] * len(e.completion_ids), "stop",
                              mask=e.completion_mask) for i, e in enumerate(examples)]
    return build_batch(completions, pad_id)


# --------------------------------------------------------------------------- the stage


def train_sft(recipe: Recipe, *, resume: bool = False, label: str = "") -> RunSummary:
    """Setup (data, plan, actors), train (one learner step per planned batch, periodic eval and
    checkpoints), cleanup; the same run folder layout as a GRPO run, held by one process."""
    with RunLock(recipe.run_dir):
        return _train_sft(recipe, resume=resume, label=label)


def _train_sft(recipe: Recipe, *, resume: bool, label: str) -> RunSummary:
    started = time.time()
    recipe, tokenizer = prepare(recipe)
    train_rows, test_rows = load_data(recipe, tokenizer)
    examples, dropped = encode_examples(train_rows, recipe, tokenizer)
    if not examples:
        raise DataError(f"data.train: all {len(train_rows)} SFT examples exceed sft.max_tokens; raise it or shorten them")
    plan = batch_plan([len(e.prompt_ids) + len(e.completion_ids) for e in examples], recipe.sft.batch_size,
                      recipe.sft.epochs, recipe.seed, recipe.sft.group_by_length)
    # the schedule and the logger count optimizer steps; an SFT stage has as many as its plan
    recipe = recipe.model_copy(update={
        "trainer": recipe.trainer.model_copy(update={"steps": len(plan)}),
        # generation is only for eval: on the learner itself, unless a sharded group needs workers
        "rollout": recipe.rollout.model_copy(update={"colocate": recipe.trainer.world_size == 1 or recipe.rollout.colocate}),
    })
    run_dir = prepare_run_dir(recipe, resume)
    test_prompts = [render_prompt(row["prompt"], recipe.data, tokenizer) for row in test_rows]
    prefix = f"{label} " if label else ""
    print(f"{prefix}sft: {len(examples)} examples ({dropped} dropped as too long), {recipe.sft.epochs} epoch(s), "
          f"{len(plan)} steps of {recipe.sft.batch_size}", flush=True)

    ray_started = init_ray(recipe)
    logger = RunLogger(run_dir, len(plan), progress=recipe.logging.progress, tracking=recipe.logging,
                       config=recipe.model_dump(mode="json"), label=label)
    try:
        actors = start_actors(recipe)
        pad_id = ray.get(actors.learner.pad_token_id.remote())
        start_step = restore(recipe, actors, run_dir, logger) if resume else 0
        first_eval: dict[str, float] = {}
        if test_rows and recipe.eval.at_start and start_step == 0:
            first_eval = evaluate_and_log(recipe, actors, test_prompts, test_rows, logger, 0)
        last_eval: dict[str, float] = {}
        watch = RunWatch(0, "")  # skipped updates only: SFT has no correctness reward to wait for
        for step in range(start_step, len(plan)):
            t0 = time.time()
            batch = sft_batch([examples[i] for i in plan[step]], pad_id)
            metrics = actors.learners.call("sft_step", batch, step)
            metrics["time/step"] = time.time() - t0
            logger.log(step + 1, metrics)
            watch.after_step(step + 1, metrics)
            done = step + 1
            if test_rows and recipe.eval.every_steps and done % recipe.eval.every_steps == 0 and done < len(plan):
                sync_weights(recipe, actors)
                evaluate_and_log(recipe, actors, test_prompts, test_rows, logger, done)
            saved = None
            if recipe.checkpoint.every_steps and done % recipe.checkpoint.every_steps == 0 and done < len(plan):
                saved = save_checkpoint(recipe, actors, run_dir, done)
            stop_at_time_limit(recipe, actors, run_dir, logger, started, done, len(plan), saved)
        if test_rows:
            sync_weights(recipe, actors)
            last_eval = evaluate_and_log(recipe, actors, test_prompts, test_rows, logger, len(plan))
        final = save_checkpoint(recipe, actors, run_dir, len(plan))
        if not first_eval:
            first_eval = next((m for m in read_metrics(run_dir) if m["step"] == 0 and "eval/accuracy" in m), {})
        return RunSummary(run_dir, len(plan), first_eval, last_eval, final, time.time() - started)
    finally:
        logger.close()
        shutdown(ray_started)
