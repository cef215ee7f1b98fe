"""Run a pipeline recipe: its stages in order, each in its own folder under runs/<name>/stages/.

A finished stage is never run again (its folder holds `stage.json` with status `completed`); an
interrupted one continues from its last checkpoint with --resume; `--stage NAME` runs one stage
whose inputs are ready. `summary.json` in the run folder holds, per stage, its kind, status,
seconds, output and test-split metrics, rewritten after every change.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

from grpo.config import RecipeError
from grpo.stages import TRAINING_KINDS, Pipeline, Stage, dump_pipeline, model_dir, stage_dir

STATE = "stage.json"


def read_state(run_dir: Path, name: str) -> dict[str, Any]:
    path = stage_dir(run_dir, name) / STATE
    return json.loads(path.read_text()) if path.exists() else {"status": "pending"}


def run_pipeline(pipeline: Pipeline, *, resume: bool = False, only: str | None = None) -> dict[str, Any]:
    """Run every stage not yet completed (or just `only`); returns the summary."""
    from grpo.lock import RunLock

    run_dir = pipeline.run_dir
    with RunLock(run_dir):
        (run_dir / "config.yaml").write_text(dump_pipeline(pipeline))
        selected = [pipeline.stage(only)] if only else pipeline.stages
        preflight([s for s in selected if read_state(run_dir, s.name)["status"] != "completed"])
        for stage in selected:
            _run_stage(pipeline, stage, resume)
        return write_summary(pipeline)


def preflight(stages: list[Stage]) -> None:
    """Before the first stage starts: every model that comes from outside the pipeline is reachable
    and its tokenizer can write that stage's template and stop strings (a student whose tokenizer
    cannot spell `<think>` fails now, not after an hour of RL)."""
    from grpo.model_source import load_checked_tokenizer

    seen = set()
    for stage in stages:
        r = stage.recipe
        key = (r.model.path, r.model.tokenizer, r.data.template, tuple(r.rollout.stop))
        if stage.model_from is None and key not in seen:
            seen.add(key)
            try:
                load_checked_tokenizer(r, key=f"{stage.key}.model")
            except RecipeError as err:
                raise RecipeError(f"stage {stage.name!r}: {err}") from None


def _run_stage(pipeline: Pipeline, stage: Stage, resume: bool) -> None:
    run_dir, total = pipeline.run_dir, len(pipeline.stages)
    label = f"[stage {stage.index + 1}/{total} {stage.kind}]"
    state = read_state(run_dir, stage.name)
    if state["status"] == "completed":
        print(f"{label} {stage.name}: completed earlier in {state['seconds']:.0f}s; not run again", flush=True)
        return
    if state["status"] != "pending" and not resume:
        raise RecipeError(
            f"stage {stage.name!r} ({stage.key}) was interrupted (status {state['status']!r}); pass --resume to "
            f"continue it from its last checkpoint, or delete {stage_dir(run_dir, stage.name)} to start it over"
        )
    for needed in stage.depends_on:
        if read_state(run_dir, needed)["status"] != "completed":
            raise RecipeError(f"stage {stage.name!r} needs stage {needed!r}, which has not completed; run it first "
                              f"(without --stage, or with --stage {needed})")
    folder = stage_dir(run_dir, stage.name)
    from grpo.trainer import has_results

    continuing = resume and has_results(folder)
    print(f"{label} {stage.name}: {'resuming' if continuing else 'starting'} ({_describe(stage)})", flush=True)
    started = time.time()
    spent = state.get("seconds", 0.0) if continuing else 0.0
    _write_state(folder, {"status": "running", "kind": stage.kind, "started": started, "seconds": spent})
    write_summary(pipeline)
    try:
        outcome = _execute(stage, continuing, label)
    except BaseException as err:
        from grpo.trainer import TimeLimitReached

        status = "stopped" if isinstance(err, TimeLimitReached) else "failed"  # stopped: resumes like failed
        _write_state(folder, {"status": status, "kind": stage.kind, "error": f"{type(err).__name__}: {err}"[:2000],
                              "seconds": spent + time.time() - started})
        write_summary(pipeline)
        raise
    if stage.kind in TRAINING_KINDS:
        export_model(Path(outcome["checkpoint"]) / "model", model_dir(run_dir, stage.name))
        outcome["checkpoint"] = str(model_dir(run_dir, stage.name))
    seconds = spent + time.time() - started
    _write_state(folder, {"status": "completed", "kind": stage.kind, "seconds": seconds, **outcome})
    write_summary(pipeline)
    print(f"{label} {stage.name}: completed in {seconds:.0f}s{_result_line(outcome)}", flush=True)


def _describe(stage: Stage) -> str:
    source = f"from stage {stage.model_from}" if stage.model_from else f"from {stage.recipe.model.path}"
    data = f", data from stage {stage.data_from['train']}" if "train" in stage.data_from else ""
    return source + data


def _execute(stage: Stage, resume: bool, label: str) -> dict[str, Any]:
    """Run one stage; returns what summary.json records about its output."""
    recipe = stage.recipe
    if stage.kind == "generate":
        from grpo.generate import run_generate

        result = run_generate(recipe, resume=resume, label=label, source=recipe.model.path)
        return {"dataset": str(result.dataset), "acceptance": result.stats["acceptance"], "kept": result.stats["kept"],
                "samples": result.stats["samples"], "rejected": result.stats["rejected"],
                "difficulty": result.stats["difficulty"]}
    if stage.kind == "grpo":
        from grpo.trainer import train

        summary = train(recipe, resume=resume, label=label)
    else:
        from grpo.sft import train_sft

        summary = train_sft(recipe, resume=resume, label=label)
    return {"checkpoint": str(summary.last_checkpoint), "steps": summary.steps,
            "first_eval": summary.first_eval, "eval": summary.last_eval}


def _result_line(outcome: dict[str, Any]) -> str:
    if "acceptance" in outcome:
        return f"; kept {outcome['kept']}/{outcome['samples']} samples ({outcome['acceptance']:.1%})"
    before, after = outcome.get("first_eval", {}).get("eval/accuracy"), outcome.get("eval", {}).get("eval/accuracy")
    if after is None:
        return ""
    return f"; test accuracy {before:.3f} -> {after:.3f}" if before is not None else f"; test accuracy {after:.3f}"


def export_model(source: Path, target: Path) -> None:
    """The stage's final model under a fixed name, for `from:` of later stages: hard links to the
    checkpoint's files where the file system allows (no second copy of the weights)."""
    staging = target.with_name(target.name + ".tmp")
    shutil.rmtree(staging, ignore_errors=True)

    def link(src: str, dst: str) -> None:
        try:
            os.link(src, dst)
        except OSError:
            shutil.copy2(src, dst)

    shutil.copytree(source, staging, copy_function=link)
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)


def _write_state(folder: Path, state: dict[str, Any]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    staging = folder / (STATE + ".tmp")
    staging.write_text(json.dumps(state, indent=2, default=str) + "\n")
    os.replace(staging, folder / STATE)


def write_summary(pipeline: Pipeline) -> dict[str, Any]:
    stages = []
    for stage in pipeline.stages:
        state = read_state(pipeline.run_dir, stage.name)
        stages.append({"name": stage.name, "kind": stage.kind, **{k: v for k, v in state.items() if k != "kind"}})
    summary = {"name": pipeline.name, "stages": stages, "updated": time.time()}
    staging = pipeline.run_dir / "summary.json.tmp"
    staging.write_text(json.dumps(summary, indent=2, default=str) + "\n")
    os.replace(staging, pipeline.run_dir / "summary.json")
    return summary
