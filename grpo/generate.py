"""Rejection sampling: the `generate` stage of a pipeline (R1's step between its two RL stages, and
the source of the traces a student is distilled on).

N samples per prompt from a checkpoint with the rollout engine, scored by the recipe's verifiers;
what every accepting verifier passes goes through the filters of grpo/filters.py, and the kept
traces become a dataset (JSONL or Parquet) whose rows carry their provenance: the stage, the
checkpoint, each verifier's score, the prompt's pass rate. Prompts are done in chunks; each
finished chunk is saved, so an interrupted stage resumes after its last chunk.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any


from grpo.cluster import init_ray, shutdown, start_actors
from grpo.config import Recipe, RecipeError
from grpo.data import render_prompt
from grpo.evaluate import correctness_label
from grpo.filters import Candidate, Selection, difficulty_bucket, select
from grpo.lock import RunLock
from grpo.logging import RunLogger
from grpo.model_source import prepare
from grpo.rollout.base import SamplingParams
from grpo.rollout.collect import ScoredRollouts, generate_and_score
from grpo.trainer import load_data, prepare_run_dir

CHUNKS = "chunks"


class GenerateError(RecipeError):
    """A generate stage that kept nothing: the message gives the counts per verifier and the fix."""


@dataclass
class GenerateSummary:
    run_dir: Path
    dataset: Path
    stats: dict[str, Any]
    seconds: float


def accept_labels(recipe: Recipe) -> list[str]:
    labels = [spec.label for spec in recipe.rewards.verifiers]
    accept = recipe.generate.accept or [correctness_label(recipe)]
    unknown = [label for label in accept if label not in labels]
    if unknown:
        raise RecipeError(f"generate.accept = {accept!r}: {unknown} are not verifier labels of this recipe ({labels})")
    return accept


def run_generate(recipe: Recipe, *, resume: bool = False, label: str = "", source: str = "") -> GenerateSummary:
    """Setup (prompts, engine actors), sample and filter chunk by chunk, then write the dataset."""
    with RunLock(recipe.run_dir):
        return _run_generate(recipe, resume=resume, label=label, source=source)


def _run_generate(recipe: Recipe, *, resume: bool, label: str, source: str) -> GenerateSummary:
    started = time.time()
    accept = accept_labels(recipe)
    recipe, tokenizer = prepare(recipe)
    rows = load_data(recipe, tokenizer)[0][: recipe.generate.num_prompts]
    run_dir = prepare_run_dir(recipe, resume)
    chunks_dir = run_dir / CHUNKS
    chunks_dir.mkdir(exist_ok=True)
    size = recipe.generate.chunk_prompts
    chunks = [rows[start : start + size] for start in range(0, len(rows), size)]
    prefix = f"{label} " if label else ""
    r = recipe.rollout
    params = SamplingParams(n=recipe.generate.samples_per_prompt, temperature=r.temperature, top_p=r.top_p,
                            max_tokens=r.max_completion_tokens, stop=tuple(r.stop), ignore_eos=r.ignore_eos,
                            min_tokens=r.min_completion_tokens)
    specs = [spec.model_dump() for spec in recipe.rewards.verifiers]
    ray_started = init_ray(recipe)
    logger = RunLogger(run_dir, len(chunks), progress=False, config=recipe.model_dump(mode="json"))
    try:
        actors = None
        for index, chunk in enumerate(chunks):
            path = chunks_dir / f"chunk_{index:05d}.json"
            if path.exists():  # done before an interruption
                continue
            actors = actors or start_actors(recipe, with_learner=False)
            t0 = time.time()
            prompts = [render_prompt(row["prompt"], recipe.data, tokenizer) for row in chunk]
            scored = generate_and_score(actors, prompts, chunk, params, specs, seed=recipe.seed, step=index,
                                        none_as=recipe.rewards.none_as, max_completion_tokens=r.max_completion_tokens)
            records, stats = select_chunk(scored, recipe, accept, index * size, source or recipe.model.path)
            _write_atomic(path, json.dumps({"records": records, "stats": stats}, default=str))
            logger.log(index + 1, {"generate/samples": stats["samples"], "generate/kept": stats["kept"],
                                   "generate/acceptance": stats["kept"] / max(1, stats["samples"]),
                                   "time/chunk": time.time() - t0})
            print(f"{prefix}chunk {index + 1}/{len(chunks)}: kept {stats['kept']}/{stats['samples']} samples "
                  f"({time.time() - t0:.1f}s)", flush=True)
    finally:
        logger.close()
        shutdown(ray_started)
    records, stats = merge_chunks(chunks_dir, len(chunks), accept)
    if not records:
        raise GenerateError(zero_accepted_message(recipe, stats, accept))
    dataset = write_dataset(run_dir, records, recipe.generate.format)
    stats["dataset"] = str(dataset)
    (run_dir / "stats.json").write_text(json.dumps(stats, indent=2) + "\n")
    print(f"{prefix}kept {stats['kept']} of {stats['samples']} samples ({stats['acceptance']:.1%}) from "
          f"{stats['prompts']} prompts -> {dataset}", flush=True)
    return GenerateSummary(run_dir, dataset, stats, time.time() - started)


def select_chunk(scored: ScoredRollouts, recipe: Recipe, accept: list[str], offset: int,
                 source: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Kept rows with their provenance, and the chunk's counts (overall, by reason, by difficulty)."""
    n = recipe.generate.samples_per_prompt
    correct = correctness_label(recipe)
    selection, difficulty = Selection(accepted_by={label: 0 for label in accept}), {}
    records = []
    for start in range(0, len(scored.completions), n):
        candidates = [
            Candidate(offset + start // n, j, c.text, len(c.completion_ids), c.finish_reason == "length",
                      {name: values[start + j] for name, values in scored.scores.per_verifier.items()})
            for j, c in enumerate(scored.completions[start : start + n])
        ]
        chosen = select(candidates, recipe.generate, accept)
        selection.add(chosen)
        pass_rate = sum((c.scores.get(correct) or 0.0) >= 0.5 for c in candidates) / len(candidates)
        bucket = difficulty.setdefault(difficulty_bucket(pass_rate), {"prompts": 0, "samples": 0, "kept": 0})
        bucket["prompts"] += 1
        bucket["samples"] += len(candidates)
        bucket["kept"] += len(chosen.kept)
        row = scored.rows[start]
        for candidate in chosen.kept:
            records.append({
                **{k: v for k, v in row.items() if k not in ("prompt", "answer", "completion")},
                "prompt": row["prompt"], "answer": row.get("answer"), "completion": candidate.text,
                "provenance": {"stage": recipe.name, "checkpoint": source, "prompt_index": candidate.prompt_index,
                               "sample_index": candidate.sample_index, "scores": candidate.scores,
                               "completion_tokens": candidate.tokens, "pass_rate": pass_rate},
            })
    stats = {"prompts": len(scored.completions) // n, "samples": len(scored.completions), "kept": len(selection.kept),
             "rejected": selection.rejected, "accepted_by": selection.accepted_by, "difficulty": difficulty}
    return records, stats


def merge_chunks(chunks_dir: Path, count: int, accept: list[str]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    records: list[dict[str, Any]] = []
    total: dict[str, Any] = {"prompts": 0, "samples": 0, "kept": 0, "rejected": {}, "accepted_by": {label: 0 for label in accept},
                             "difficulty": {}}
    for index in range(count):
        chunk = json.loads((chunks_dir / f"chunk_{index:05d}.json").read_text())
        records += chunk["records"]
        stats = chunk["stats"]
        for key in ("prompts", "samples", "kept"):
            total[key] += stats[key]
        for group in ("rejected", "accepted_by"):
            for name, value in stats[group].items():
                total[group][name] = total[group].get(name, 0) + value
        for bucket, values in stats["difficulty"].items():
            into = total["difficulty"].setdefault(bucket, {"prompts": 0, "samples": 0, "kept": 0})
            for key, value in values.items():
                into[key] += value
    total["acceptance"] = total["kept"] / max(1, total["samples"])
    for values in total["difficulty"].values():
        values["acceptance"] = values["kept"] / max(1, values["samples"])
    return records, total


def write_dataset(run_dir: Path, records: list[dict[str, Any]], fmt: str) -> Path:
    path = run_dir / f"dataset.{fmt}"
    if fmt == "jsonl":
        _write_atomic(path, "".join(json.dumps(record, default=str) + "\n" for record in records))
    else:
        import pyarrow as pa
        import pyarrow.parquet as pq

        staging = path.with_suffix(".parquet.tmp")
        pq.write_table(pa.Table.from_pylist(records), staging)
        os.replace(staging, path)
    return path


def zero_accepted_message(recipe: Recipe, stats: dict[str, Any], accept: list[str]) -> str:
    samples = stats["samples"]
    by_verifier = ", ".join(f"{label} {stats['accepted_by'].get(label, 0)}/{samples}" for label in accept)
    dropped = ", ".join(f"{reason} {count}" for reason, count in stats["rejected"].items() if count)
    return (
        f"generate stage {recipe.name!r} kept 0 of {samples} samples ({stats['prompts']} prompts x "
        f"{recipe.generate.samples_per_prompt}). Accepted (score >= {recipe.generate.accept_threshold:g}) by each "
        f"verifier: {by_verifier}; dropped by first reason: {dropped}. Fix: draw more samples "
        f"(generate.samples_per_prompt), sample from a stronger checkpoint (`from:` a later stage), relax the "
        f"filter that dropped the most, or check the verifiers with `grpo verify`"
    )


def _write_atomic(path: Path, text: str) -> None:
    staging = path.with_name(path.name + ".tmp")
    staging.write_text(text)
    os.replace(staging, path)

