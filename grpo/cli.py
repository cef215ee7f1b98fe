"""`grpo train | eval | verify | plot`: argument parsing and friendly errors, nothing else."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from grpo.config import RecipeError, load_recipe


TIME_LIMIT_EXIT = 75  # EX_TEMPFAIL: the run is fine and continues with --resume (a job script can loop on it)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="grpo", description="GRPO post-training: recipes, verifiers, evaluation.")
    commands = parser.add_subparsers(dest="command", required=True)

    train = commands.add_parser("train", help="train a recipe end to end")
    train.add_argument("recipe", help="path to a recipe YAML (see recipes/)")
    train.add_argument("overrides", nargs="*", help="dotted overrides, e.g. trainer.learning_rate=3e-6")
    train.add_argument("--resume", action="store_true", help="continue the run in the run folder from its last checkpoint")
    train.add_argument("--resume-from", type=int, metavar="STEP", help="continue from the checkpoint of this step")
    train.add_argument("--dry-run", action="store_true", help="validate the recipe and data, print it, train nothing")
    train.add_argument("--stage", help="pipelines: run only this stage (the stages it reads must have completed)")

    evaluate = commands.add_parser("eval", help="evaluate a checkpoint on the recipe's test split")
    evaluate.add_argument("recipe")
    evaluate.add_argument("overrides", nargs="*")
    evaluate.add_argument("--checkpoint", help="model directory (a run's checkpoints/step_N/model); default: model.path")
    evaluate.add_argument("--output", help="write the metrics as JSON here")

    verify = commands.add_parser("verify", help="score one completion with one verifier and show what it saw")
    verify.add_argument("--verifier", required=True, help="a built-in name, module:attr or file.py:attr")
    verify.add_argument("--completion", required=True, help="the model's text")
    verify.add_argument("--answer", default=None, help="the reference answer")
    verify.add_argument("--prompt", default="", help="the prompt (some verifiers read it)")
    verify.add_argument("--column", action="append", default=[], metavar="KEY=VALUE",
                        help="another dataset column, value parsed as YAML (e.g. numbers=[3,5,7])")
    verify.add_argument("--kwargs", default="{}", help="verifier keyword arguments as YAML/JSON")
    verify.add_argument("--max-tokens", type=int, default=0, help="the recipe's max_completion_tokens")

    check = commands.add_parser("check", help="preflight: data, verifiers, reference solutions, what the base scores")
    check.add_argument("recipe")
    check.add_argument("overrides", nargs="*")
    check.add_argument("--solution-column", help="column with reference solutions to score (default: solution)")
    check.add_argument("--solution-format", help="build the reference completion from columns, e.g. "
                       "' <think> {solution} </think> <answer> {answer} </answer>' (default: sft.completion_format)")
    check.add_argument("--samples", type=int, default=8, help="K samples per prompt from the base model")
    check.add_argument("--prompts", type=int, default=16, help="M training prompts the base model is tried on")
    check.add_argument("--no-base", action="store_true", help="skip the base model (no generation)")
    check.add_argument("--json", action="store_true", help="print the report as JSON")

    plot = commands.add_parser("plot", help="PNG curves and a traces page of a run folder")
    plot.add_argument("run_dir", help="a run folder, e.g. runs/quickstart")
    plot.add_argument("--steps", default=None, help="comma-separated steps for the traces page (default: first, middle, last)")
    plot.add_argument("--traces", type=int, default=3, help="traces shown per step")

    view = commands.add_parser("view", help="a run in the browser: curves, traces, filters, two steps side by side")
    view.add_argument("run_dir", help="a run folder, e.g. runs/quickstart (a pipeline's folder shows its stages)")
    view.add_argument("--export", metavar="FILE", help="write one self-contained HTML file instead of serving")
    view.add_argument("--port", type=int, default=8765, help="port on 127.0.0.1 (default 8765)")

    runs = commands.add_parser("runs", help="the run folders under a folder: status, steps, last metrics")
    runs.add_argument("folder", nargs="?", default="runs", help="where to look (default: runs)")
    runs.add_argument("--json", action="store_true", help="print the list as JSON")

    # overrides may come after options too (`--checkpoint X eval.k=8`): collect the stray ones
    args, extra = parser.parse_known_args(argv)
    stray = [item for item in extra if "=" in item and not item.startswith("-")]
    if len(stray) != len(extra) or (stray and not hasattr(args, "overrides")):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if hasattr(args, "overrides"):
        args.overrides = list(args.overrides) + stray
    try:
        if args.command == "train":
            return _train(args)
        if args.command == "eval":
            return _eval(args)
        if args.command == "verify":
            return _verify(args)
        if args.command == "plot":
            return _plot(args)
        if args.command == "check":
            return _check(args)
        if args.command == "runs":
            return _runs(args)
        if args.command == "view":
            return _view(args)
    except RecipeError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; resume with --resume from the last checkpoint", file=sys.stderr)
        return 130
    except Exception as err:
        from grpo.trainer import TimeLimitReached

        if not isinstance(err, TimeLimitReached):
            raise
        print(f"stopped: {err}", file=sys.stderr)
        return TIME_LIMIT_EXIT
    return 0


def _view(args: argparse.Namespace) -> int:
    from grpo import view

    try:
        if args.export:
            print(f"wrote {view.export(args.run_dir, args.export)}; open it in a browser")
            return 0
        server = view.serve(args.run_dir, args.port)
    except FileNotFoundError as err:
        raise RecipeError(str(err)) from None
    print(f"serving {args.run_dir} at http://127.0.0.1:{server.server_address[1]}/ (reload to refresh; Ctrl-C stops)", flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()
    return 0


def _runs(args: argparse.Namespace) -> int:
    import json
    from dataclasses import asdict
    from pathlib import Path

    from grpo.runs import find_runs, table

    root = Path(args.folder)
    if not root.is_dir():
        raise RecipeError(f"{root} is not a folder; pass the folder your runs are in (output_dir, default runs)")
    found = find_runs(root)
    if args.json:
        print(json.dumps([{**asdict(run), "path": str(run.path)} for run in found], indent=2))
    else:
        print(table(found, root))
    return 0


def _load(recipe: str, overrides: list[str]):
    from grpo.data import DataError

    try:
        return load_recipe(recipe, overrides)
    except DataError as err:
        raise RecipeError(str(err)) from None


def _train(args: argparse.Namespace) -> int:
    from grpo.config import dump_recipe
    from grpo.data import DataError
    from grpo.stages import is_pipeline

    if is_pipeline(args.recipe):
        return _train_pipeline(args)
    if args.stage:
        raise RecipeError(f"--stage {args.stage!r}: {args.recipe} has no `stages:`; drop --stage")
    recipe = _load(args.recipe, args.overrides)
    if args.dry_run:
        from grpo.model_source import prepare
        from grpo.trainer import load_data

        recipe, tokenizer = prepare(recipe)
        try:
            train_rows, test_rows = load_data(recipe, tokenizer)
        except DataError as err:
            raise RecipeError(str(err)) from None
        print(dump_recipe(recipe))
        _dry_run_sample(recipe, train_rows, tokenizer)
        print(f"ok: {len(train_rows)} training prompts, {len(test_rows)} test prompts, "
              f"{recipe.batch_size} completions per step; nothing trained (--dry-run)")
        return 0
    from grpo.trainer import train

    try:
        summary = train(recipe, resume=args.resume, resume_from=args.resume_from)
    except DataError as err:
        raise RecipeError(str(err)) from None
    print(_summary(summary))
    return 0


def _train_pipeline(args: argparse.Namespace) -> int:
    """A recipe with `stages:`: validate it all, then run the stages not yet completed."""
    from grpo.data import DataError
    from grpo.pipeline import read_state, run_pipeline
    from grpo.stages import load_pipeline

    pipeline = load_pipeline(args.recipe, args.overrides)
    if args.dry_run:
        for stage in pipeline.stages:
            source = f"stage {stage.model_from}" if stage.model_from else stage.recipe.model.path
            data = f"stage {stage.data_from['train']}" if "train" in stage.data_from else "its data.train"
            status = read_state(pipeline.run_dir, stage.name)["status"]
            print(f"[stage {stage.index + 1}/{len(pipeline.stages)} {stage.kind}] {stage.name}: model from {source}, "
                  f"prompts from {data} ({status})")
        print(f"ok: {len(pipeline.stages)} stages valid; nothing run (--dry-run)")
        return 0
    try:
        summary = run_pipeline(pipeline, resume=args.resume, only=args.stage)
    except DataError as err:
        raise RecipeError(str(err)) from None
    print(f"\nDone: {pipeline.run_dir}/summary.json")
    for stage in summary["stages"]:
        accuracy = (stage.get("eval") or {}).get("eval/accuracy")
        extra = f"  test accuracy {accuracy:.3f}" if accuracy is not None else ""
        if "acceptance" in stage:
            extra = f"  kept {stage['kept']}/{stage['samples']} ({stage['acceptance']:.1%})"
        print(f"  {stage['name']:<16} {stage['kind']:<9} {stage['status']:<10} {stage.get('seconds', 0):6.0f}s{extra}")
    return 0


def _dry_run_sample(recipe, rows, tokenizer) -> None:
    """Render the first prompt and score a stand-in completion with every verifier, so a wrong
    column mapping or verifier argument fails now rather than in a worker after model loading."""
    from grpo.data import render_prompt
    from rewards import Sample, VerifierError, build

    row = rows[0]
    prompt = render_prompt(row["prompt"], recipe.data, tokenizer)
    completion = f" <think> stand-in reasoning </think> <answer> {row.get('answer', '')} </answer>"
    print(f"first prompt: {prompt[-200:]!r}")
    columns = {k: v for k, v in row.items() if k not in ("prompt", "answer")}
    sample = Sample(row["prompt"], completion, answer=row.get("answer"), columns=columns, completion_tokens=16,
                    max_completion_tokens=recipe.rollout.max_completion_tokens)
    for index, spec in enumerate(recipe.rewards.verifiers):
        try:
            result = build(spec.name, spec.kwargs)([sample])[0]
        except (VerifierError, ValueError, KeyError, TypeError) as err:
            raise RecipeError(f"rewards.verifiers.{index} ({spec.name}) fails on the first training row: {err}") from None
        print(f"verifier {spec.name}: {result.value} on a stand-in completion")


def _summary(summary) -> str:
    first, last = summary.first_eval, summary.last_eval
    acc = ""
    if "eval/accuracy" in last:
        before = first.get("eval/accuracy")
        acc = (f" Test accuracy went from {before:.3f} to {last['eval/accuracy']:.3f}." if before is not None
               else f" Test accuracy at the end: {last['eval/accuracy']:.3f}.")
    minutes = summary.seconds / 60
    return (
        f"\nDone: {summary.steps} steps in {minutes:.1f} min.{acc} The run folder {summary.run_dir} holds the resolved "
        f"config (config.yaml), per-step metrics (metrics.jsonl), sampled traces (samples/) and the final "
        f"checkpoint ({summary.last_checkpoint}); evaluate it with `grpo eval <recipe> --checkpoint "
        f"{summary.last_checkpoint}/model`."
    )


def _eval(args: argparse.Namespace) -> int:
    from grpo.cluster import init_ray, shutdown, start_actors
    from grpo.data import render_prompt
    from grpo.evaluate import evaluate
    from grpo.model_source import prepare
    from grpo.trainer import load_data

    overrides = list(args.overrides)
    if args.checkpoint:
        if not Path(args.checkpoint).is_dir():
            raise RecipeError(f"--checkpoint {args.checkpoint!r} is not a directory; pass a run's checkpoints/step_N/model")
        overrides += [f"model.path={args.checkpoint}", "model.lora.enabled=false"]
    recipe = _load(args.recipe, overrides)
    if recipe.data.test is None:
        raise RecipeError("data.test is not set: the recipe names no test split to evaluate on")
    recipe, tokenizer = prepare(recipe)
    _, test_rows = load_data(recipe, tokenizer)
    prompts = [render_prompt(row["prompt"], recipe.data, tokenizer) for row in test_rows]
    recipe.rollout.colocate = True  # evaluation needs one engine, no trainer elsewhere
    started = init_ray(recipe)
    try:
        actors = start_actors(recipe)
        metrics = evaluate(recipe, actors, prompts, test_rows, seed=recipe.seed)
    finally:
        shutdown(started)
    print(f"model: {recipe.model.path}")
    for key, value in metrics.items():
        print(f"{key:<28} {value:.4f}")
    if args.output:
        Path(args.output).write_text(json.dumps({"model": recipe.model.path, **metrics}, indent=2) + "\n")
    return 0


def _check(args: argparse.Namespace) -> int:
    from grpo.check import run_check
    from grpo.stages import is_pipeline

    if is_pipeline(args.recipe):
        raise RecipeError(f"grpo check takes a single-run recipe; {args.recipe} has stages (check them with "
                          "`grpo train RECIPE --dry-run`)")
    report = run_check(_load(args.recipe, args.overrides), solution_column=args.solution_column,
                       solution_format=args.solution_format, samples=args.samples, prompts=args.prompts,
                       base=not args.no_base)
    print(json.dumps(report.as_dict(), indent=2, default=str) if args.json else report.text())
    return 1 if report.fatal else 0


def _plot(args: argparse.Namespace) -> int:
    from grpo.plot import plot_run

    steps = [int(x) for x in args.steps.split(",")] if args.steps else None
    try:
        written = plot_run(Path(args.run_dir), steps, args.traces)
    except FileNotFoundError as err:
        raise RecipeError(str(err)) from None
    for path in written:
        print(path)
    return 0


def _verify(args: argparse.Namespace) -> int:
    import time

    import yaml

    from rewards import Sample, VerifierError, build

    try:
        kwargs = yaml.safe_load(args.kwargs) or {}
        columns = {}
        for item in args.column:
            key, sep, value = item.partition("=")
            if not sep:
                raise RecipeError(f"--column {item!r} must look like KEY=VALUE")
            columns[key] = yaml.safe_load(value)
        verifier = build(args.verifier, kwargs)
    except (VerifierError, yaml.YAMLError) as err:
        raise RecipeError(str(err)) from None
    sample = Sample(prompt=args.prompt, completion=args.completion, answer=args.answer, columns=columns,
                    completion_tokens=0, max_completion_tokens=args.max_tokens)
    started = time.time()
    result = verifier([sample])[0]
    print(f"verifier   {args.verifier}")
    print(f"score      {result.value}")
    for key, value in result.details.items():
        print(f"{key:<10} {value}")
    print(f"time       {1000 * (time.time() - started):.1f} ms")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    sys.exit(main())
