"""The GRPO step loop: sample, score, compute group advantages, update, sync, log, checkpoint.

Read `train()` top to bottom; every phase is a call to a named function elsewhere.
"""

from __future__ import annotations

import sys
import threading
import time
import traceback
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ray
import torch

from grpo import algorithms, checkpoint, inputs
from grpo.batch import RolloutBatch, build_batch
from grpo.cluster import Actors, init_ray, shutdown, start_actors, workers_share_learner_gpu
from grpo.config import Recipe, RecipeError, dump_recipe
from grpo.data import DataError, PromptSampler, load_rows, map_columns, render_prompt
from grpo.envs.episode import episode_metrics
from grpo.evaluate import correctness_label, evaluate
from grpo.lock import RunLock
from grpo.watch import RunWatch
from grpo.logging import RunLogger, read_metrics
from grpo.model_source import prepare
from grpo.prefetch import Prefetcher, staleness
from grpo.rollout.base import SamplingParams
from grpo.rollout.actor import StaleWeights
from grpo.rollout.collect import ScoredRollouts, generate_and_score
from rewards.combine import verifier_means


@dataclass
class RunSummary:
    run_dir: Path
    steps: int
    first_eval: dict[str, float]
    last_eval: dict[str, float]
    last_checkpoint: Path | None
    seconds: float


class TimeLimitReached(Exception):
    """A launch stopped at trainer.time_limit_minutes after saving a checkpoint: not a failure, the run
    continues with --resume."""

    def __init__(self, run_dir: Path, step: int, steps: int, checkpoint: Path, minutes: float):
        super().__init__(f"time limit of {minutes:g} min reached after step {step} of {steps}; checkpoint "
                         f"{checkpoint}; continue with --resume")
        self.run_dir, self.step, self.steps, self.checkpoint = run_dir, step, steps, checkpoint


def train(recipe: Recipe, *, resume: bool = False, label: str = "", resume_from: int | None = None) -> RunSummary:
    """Run a GRPO recipe end to end; the run folder is held (grpo/lock.py) for the whole run.
    resume: continue from the newest intact checkpoint, or from step `resume_from`."""
    with RunLock(recipe.run_dir):
        with errors_logged(recipe.run_dir):
            return _train(recipe, resume=resume or resume_from is not None, label=label, resume_from=resume_from)


def _train(recipe: Recipe, *, resume: bool, label: str, resume_from: int | None = None) -> RunSummary:
    started = time.time()
    recipe, tokenizer = prepare(recipe)
    run_dir = prepare_run_dir(recipe, resume)
    train_rows, test_rows = load_data(recipe, tokenizer)
    sampler = PromptSampler(train_rows, recipe.rollout.prompts_per_step, recipe.seed, recipe.data.shuffle)
    test_prompts = [render_prompt(row["prompt"], recipe.data, tokenizer) for row in test_rows]

    ray_started = init_ray(recipe)
    logger = RunLogger(run_dir, recipe.trainer.steps, progress=recipe.logging.progress, tracking=recipe.logging,
                       config=recipe.model_dump(mode="json"), label=label)
    try:
        actors_started = time.time()
        actors = start_actors(recipe)
        pad_id = ray.get(actors.learner.pad_token_id.remote())
        # a big model's start (loading, sharding) can take minutes: say how long
        logger.say(f"learners ready in {time.time() - actors_started:.0f} s ({recipe.trainer.world_size} rank(s), "
                   f"{actors.engine} engine)")
        start_step = restore(recipe, actors, run_dir, logger, resume_from) if resume else 0
        first_eval: dict[str, float] = {}
        if test_rows and recipe.eval.at_start and start_step == 0:
            first_eval = evaluate_and_log(recipe, actors, test_prompts, test_rows, logger, 0)

        last_eval: dict[str, float] = {}
        watch = RunWatch(recipe.rewards.warn_after_steps, correctness_label(recipe))
        prefetch = None
        if recipe.rollout.max_staleness > 0:
            prefetch = Prefetcher(lambda t: collect_with_recovery(recipe, actors, sampler, tokenizer, t, pin_version=False),
                                  start_step, recipe.trainer.steps, recipe.rollout.max_staleness)
        try:
            for step in range(start_step, recipe.trainer.steps):
                step_started = time.time()
                if prefetch is None:
                    rollout, timings = collect_with_recovery(recipe, actors, sampler, tokenizer, step)
                else:
                    rollout, timings = prefetch.get(step)
                    timings["time/rollout_wait"] = time.time() - step_started  # what overlap did not hide
                    timings["rollout/staleness"] = staleness(rollout.completions, actors.weights_version)
                batch, batch_metrics = make_batch(recipe, rollout, pad_id)
                if recipe.algorithm.beta > 0:
                    batch.ref_logprobs = actors.learners.call("reference_logprobs", batch)
                t0 = time.time()
                train_metrics = actors.learners.call("train_step", batch, step)
                timings["time/train"] = time.time() - t0
                timings["time/sync"] = sync_weights(recipe, actors)
                if prefetch is not None:
                    prefetch.trained(step + 1)
                timings["time/step"] = time.time() - step_started
                metrics = {**rollout_metrics(recipe, rollout), **batch_metrics, **train_metrics, **timings}
                logger.log(step + 1, metrics)
                watch.after_step(step + 1, metrics)
                logger.write_samples(step + 1, rollout.records(recipe.logging.samples_per_step))
                done = step + 1
                if test_rows and recipe.eval.every_steps and done % recipe.eval.every_steps == 0 and done < recipe.trainer.steps:
                    last_eval = evaluate_and_log(recipe, actors, test_prompts, test_rows, logger, done)
                saved = None
                if recipe.checkpoint.every_steps and done % recipe.checkpoint.every_steps == 0 and done < recipe.trainer.steps:
                    saved = save_checkpoint(recipe, actors, run_dir, done)
                stop_at_time_limit(recipe, actors, run_dir, logger, started, done, recipe.trainer.steps, saved)
        finally:
            if prefetch is not None:
                prefetch.close()

        if test_rows:
            last_eval = evaluate_and_log(recipe, actors, test_prompts, test_rows, logger, recipe.trainer.steps)
        final = save_checkpoint(recipe, actors, run_dir, recipe.trainer.steps)
        if not first_eval:
            first_eval = next((m for m in read_metrics(run_dir) if m["step"] == 0), {})
        return RunSummary(run_dir, recipe.trainer.steps, first_eval, last_eval, final, time.time() - started)
    finally:
        logger.close()
        shutdown(ray_started)


# --------------------------------------------------------------------------- phases


def evaluate_and_log(recipe: Recipe, actors: Actors, prompts: list[str], rows: list[dict[str, Any]], logger: RunLogger,
                     step: int) -> dict[str, float]:
    """Evaluate on the test split; log the metrics and the greedy traces (samples/eval_N.jsonl)."""
    traces: list[dict[str, Any]] = []
    metrics = evaluate(recipe, actors, prompts, rows, seed=recipe.seed, traces=traces)
    logger.log(step, metrics)
    logger.write_samples(step, traces, kind="eval")
    return metrics


def stop_at_time_limit(recipe: Recipe, actors: Actors, run_dir: Path, logger: RunLogger, started: float, done: int,
                       total: int, saved: Path | None) -> None:
    """After step `done`: past trainer.time_limit_minutes of this launch (and not at the end), save a
    checkpoint unless the step just saved one, and raise TimeLimitReached."""
    limit = recipe.trainer.time_limit_minutes
    if limit is None or done >= total or time.time() - started <= 60 * limit:
        return
    stop = TimeLimitReached(run_dir, done, total, saved or save_checkpoint(recipe, actors, run_dir, done), limit)
    logger.say(f"stopping: {stop}")
    raise stop


def prepare_run_dir(recipe: Recipe, resume: bool) -> Path:
    """Create the run folder; refuse to overwrite a previous run's results unless resuming."""
    run_dir = recipe.run_dir
    if has_results(run_dir) and not resume:
        raise RecipeError(
            f"run folder {run_dir} already holds a run; pass --resume to continue it, or change `name` "
            f"(e.g. name={recipe.name}-2) or `output_dir` to start a new one"
        )
    if resume and not has_results(run_dir):
        raise RecipeError(f"--resume: {run_dir} holds no run to resume; drop --resume to start one")
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.yaml").write_text(dump_recipe(recipe))
    return run_dir


@contextmanager
def errors_logged(run_dir: Path):
    """The full traceback of whatever stops a run goes to run_dir/error.log; the console gets the
    one-line message (a RecipeError's is enough to act on)."""
    try:
        yield
    except BaseException as err:
        if not isinstance(err, (KeyboardInterrupt, TimeLimitReached)):
            with open(run_dir / "error.log", "a") as log:
                log.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')}\n{traceback.format_exc()}\n")
        raise


def has_results(run_dir: Path) -> bool:
    """Whether a run already wrote into `run_dir` (metrics or checkpoints): then only --resume may."""
    return (run_dir / "metrics.jsonl").exists() or (run_dir / "checkpoints").exists()


def load_data(recipe: Recipe, tokenizer: Any = None, *, quiet: bool = False,
              reports: dict[str, Any] | None = None) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Train and test rows, checked (grpo/inputs.py): the columns every verifier needs, rows that can
    never earn reward, and, given the tokenizer, prompt lengths against rollout.max_prompt_tokens.
    What was dropped is printed (and returned in `reports`); test prompts also in train are counted."""
    needs = inputs.verifier_needs(recipe)
    splits: dict[str, list[dict[str, Any]]] = {}
    reports = {} if reports is None else reports
    for split in ("train", "test"):
        spec = getattr(recipe.data, split)
        if spec is None:
            splits[split] = []
            continue
        key = f"data.{split}"
        report = reports[split] = inputs.SplitReport()
        rows = map_columns(load_rows(spec, key), recipe.data, key)
        inputs.check_columns(rows, recipe, needs, key)
        rows = inputs.drop_invalid(rows, recipe, needs, key, report)
        if tokenizer is not None:
            rows = inputs.apply_length_limit(rows, recipe, tokenizer, key, report)
        report.rows = len(rows)
        if not rows:
            raise DataError(f"{key}: no rows left after the checks ({report.dropped}); see the lines above")
        splits[split] = rows
    shared = inputs.overlapping(splits["train"], splits["test"])
    reports["overlap"] = len(shared)
    if shared and recipe.data.drop_test_overlap:
        gone = set(shared)
        splits["test"] = [row for i, row in enumerate(splits["test"]) if i not in gone]
        reports["test"].dropped["also in train"] = len(shared)
        reports["test"].rows = len(splits["test"])
    if not quiet:
        for split in ("train", "test"):
            if split in reports and (reports[split].dropped or reports[split].truncated):
                for line in reports[split].lines(f"data.{split}"):
                    print(line, flush=True)
        if shared:
            print(f"warning: {len(shared)} test prompts also occur in data.train"
                  + ("; dropped from the test split" if recipe.data.drop_test_overlap else
                     "; set data.drop_test_overlap=true to evaluate without them"), flush=True)
    return splits["train"], splits["test"]


def restore(recipe: Recipe, actors: Actors, run_dir: Path, logger: RunLogger, step: int | None = None) -> int:
    """Load the newest intact checkpoint (or that of `step`); returns the steps it had completed."""
    latest = checkpoint.choose(run_dir, step)
    if latest is None:
        logger.truncate_after(0)
        return 0
    actors.learners.call("load", str(latest))
    step = checkpoint.read_driver_state(latest)["step"]
    logger.truncate_after(step)
    sync_weights(recipe, actors)
    print(f"resumed from {latest} (step {step})", flush=True)
    return step


def sampling_params(recipe: Recipe) -> SamplingParams:
    r = recipe.rollout
    return SamplingParams(n=r.group_size, temperature=r.temperature, top_p=r.top_p, max_tokens=r.max_completion_tokens,
                          stop=tuple(r.stop), ignore_eos=r.ignore_eos, min_tokens=r.min_completion_tokens)


def collect_rollouts(recipe: Recipe, actors: Actors, sampler: PromptSampler, tokenizer: Any, step: int,
                     pin_version: bool = True) -> tuple[ScoredRollouts, dict[str, float]]:
    """G completions for each prompt of the step, scored; with dynamic sampling, only informative
    groups are kept and more prompts are drawn (up to max_rounds) to refill the batch."""
    specs = [spec.model_dump() for spec in recipe.rewards.verifiers]
    group = recipe.rollout.group_size
    wanted = recipe.rollout.prompts_per_step
    dynamic = recipe.algorithm.dynamic_sampling
    rounds = dynamic.max_rounds if dynamic.enabled else 1
    t0 = time.time()
    kept: ScoredRollouts | None = None
    for round_index in range(rounds):
        rows = sampler.batch(step) if round_index == 0 else sampler.refill(step, round_index, wanted)
        prompts = [render_prompt(row["prompt"], recipe.data, tokenizer) for row in rows]
        scored = generate_and_score(
            actors, prompts, rows, sampling_params(recipe), specs, seed=recipe.seed, step=step,
            round_index=round_index, none_as=recipe.rewards.none_as,
            max_completion_tokens=recipe.rollout.max_completion_tokens, pin_version=pin_version,
        )
        if dynamic.enabled:
            informative = algorithms.informative_groups(torch.tensor(scored.scores.totals), group)
            scored = scored.select_groups(informative.tolist(), group)
        kept = scored if kept is None else kept.concat(scored)
        if len(kept.completions) >= wanted * group:
            break
    assert kept is not None
    if dynamic.enabled:
        kept = kept.select_groups([i < wanted for i in range(len(kept.completions) // group)], group)
        if not kept.completions:
            raise RuntimeError(
                f"dynamic sampling kept no group at step {step} after {rounds} rounds: every group's rewards "
                "were equal. Raise algorithm.dynamic_sampling.max_rounds, or check the verifiers"
            )
    return kept, {"time/rollout": time.time() - t0, **kept.timings}


MAX_ROLLOUT_RECOVERIES = 3


def collect_with_recovery(recipe: Recipe, actors: Actors, sampler: PromptSampler, tokenizer: Any, step: int,
                          pin_version: bool = True) -> tuple[ScoredRollouts, dict[str, float]]:
    """collect_rollouts, surviving the death of a separate rollout worker: Ray restarts it (with the
    checkpoint's weights), the driver sends it the current weights and the step's generation runs
    again with the same seeds, so the step's samples are those it would have had.

    pin_version=False (asynchronous rollouts): workers may be behind, but never behind the weights
    they held when the step was submitted; a worker back at the checkpoint's weights after a
    restart is caught by that."""
    for attempt in range(MAX_ROLLOUT_RECOVERIES + 1):
        try:
            if pin_version:
                return collect_rollouts(recipe, actors, sampler, tokenizer, step)
            floor = actors.weights_version
            rollout = collect_rollouts(recipe, actors, sampler, tokenizer, step, pin_version=False)
            used = min(c.extra.get("weights_version", floor) for c in rollout[0].completions)
            if used < floor:
                raise StaleWeights(f"a rollout worker sampled with weights version {used}, older than {floor}")
            return rollout
        except (ray.exceptions.RayActorError, StaleWeights) as err:
            if not actors.rollouts or attempt == MAX_ROLLOUT_RECOVERIES or actors.engine == "vllm":
                raise RecipeError(
                    f"step {step + 1}: an actor died during generation ({str(err).splitlines()[0][:200]}); the run stops "
                    "here: `grpo train ... --resume` continues from the last checkpoint"
                ) from None
            print(f"warning: step {step + 1}: a rollout worker died during generation; Ray restarted it: sending it "
                  "the current weights and generating the step again", file=sys.stderr, flush=True)
            _when_available(lambda: sync_weights(recipe, actors))
    raise AssertionError("unreachable")


def _when_available(call: Any, seconds: float = 180.0) -> Any:
    """Call again while an actor is still restarting (Ray answers ActorUnavailableError meanwhile)."""
    deadline = time.time() + seconds
    while True:
        try:
            return call()
        except ray.exceptions.ActorUnavailableError:
            if time.time() > deadline:
                raise
            time.sleep(0.5)


def make_batch(recipe: Recipe, rollout: ScoredRollouts, pad_id: int) -> tuple[RolloutBatch, dict[str, float]]:
    """Padded tensors plus the group-relative advantages (the only place rewards become signal)."""
    batch = build_batch(rollout.completions, pad_id)
    rewards = torch.tensor(rollout.scores.totals, dtype=torch.float32)
    group = recipe.rollout.group_size
    batch.advantages = algorithms.compute_advantages(rewards, group, recipe.algorithm.advantage, recipe.algorithm.std_scope)
    informative = algorithms.informative_groups(rewards, group)
    return batch, {
        "groups/informative": float(informative.float().mean()),
        "groups/kept": float(len(rewards) // group),
        "advantage/abs_mean": float(batch.advantages.abs().mean()),
    }


def rollout_metrics(recipe: Recipe, rollout: ScoredRollouts) -> dict[str, float]:
    rewards = torch.tensor(rollout.scores.totals, dtype=torch.float32)
    lengths = torch.tensor([len(c.completion_ids) for c in rollout.completions], dtype=torch.float32)
    target = rollout.scores.per_verifier[correctness_label(recipe)]
    correct = torch.tensor([(v or 0.0) >= 0.5 for v in target], dtype=torch.bool)
    metrics = {
        "reward/mean": float(rewards.mean()),
        "reward/std": float(rewards.std()) if len(rewards) > 1 else 0.0,
        "accuracy": int(correct.sum()) / max(1, len(correct)),
        "completion/length_mean": float(lengths.mean()),
        "completion/length_max": float(lengths.max()),
        "completion/truncated": sum(c.finish_reason == "length" for c in rollout.completions) / len(rollout.completions),
    }
    # Dr. GRPO's question: does the objective inflate the length of wrong answers? (absent when none are)
    for name, rows in (("correct", correct), ("incorrect", ~correct)):
        if rows.any():
            metrics[f"completion/length_{name}_mean"] = float(lengths[rows].mean())
    for name, mean in verifier_means(rollout.scores.per_verifier).items():
        metrics[f"reward/{name}"] = mean
        metrics[f"reward/{name}/failures"] = float(rollout.scores.failures.get(name, 0))
    metrics.update(episode_metrics(rollout.completions))
    for name, message in rollout.scores.first_errors.items():
        print(f"warning: verifier {name!r} failed on {rollout.scores.failures[name]} samples: {message}", flush=True)
    return metrics


def sync_weights(recipe: Recipe, actors: Actors) -> float:
    """Push the learner's weights to separate rollout actors (colocated engines need nothing here).

    transformers actors: the state dict through Ray's object store. vLLM actors: bucketed NCCL
    broadcasts from the learner's GPU (the group is opened on the first sync), or, with LoRA, the
    adapter alone through the object store; vLLM workers on the learner's own GPU
    (rollout.gpus_per_worker) take the state dict through the object store too.
    """
    if not actors.rollouts:
        return 0.0
    with _SYNC_LOCK:  # asynchronous rollouts: the prefetch thread may resync a restarted worker
        return _sync_weights(recipe, actors)


_SYNC_LOCK = threading.Lock()


def _sync_weights(recipe: Recipe, actors: Actors) -> float:
    t0 = time.time()
    version = actors.weights_version + 1
    if actors.engine != "vllm" or (not recipe.model.lora.enabled and workers_share_learner_gpu(actors)):
        weights = actors.learners.call("share_weights")  # a reference: the weights stay in the object store
        ray.get([worker.load_weights.remote(weights, version) for worker in actors.rollouts])
    elif recipe.model.lora.enabled:
        adapter = actors.learner.export_adapter.remote()
        ray.get([worker.load_adapter.remote(*ray.get(adapter), version) for worker in actors.rollouts])
    else:
        if actors.sync_plan is None:
            vllm = recipe.rollout.vllm
            world = 1 + len(actors.rollouts)
            address = ray.get(actors.learner.sync_address.remote())
            ray.get([actors.learner.open_sync_group.remote(address, vllm.sync_port, world)]
                    + [w.join_sync_group.remote(address, vllm.sync_port, i + 1, world) for i, w in enumerate(actors.rollouts)])
            actors.sync_plan = ray.get(actors.learner.sync_plan.remote(vllm.sync_bucket_mb * 2**20))
        ray.get(actors.learners.refs("broadcast_weights", actors.sync_plan)
                + [worker.receive_weights.remote(actors.sync_plan, version) for worker in actors.rollouts])
    actors.weights_version = version
    return time.time() - t0


def save_checkpoint(recipe: Recipe, actors: Actors, run_dir: Path, step: int) -> Path:
    return checkpoint.save(
        run_dir, step, lambda path: actors.learners.call("save", path),
        {"seed": recipe.seed, "name": recipe.name}, recipe.checkpoint.keep_last,
    )
