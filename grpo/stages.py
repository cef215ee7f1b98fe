"""Pipeline recipes: `stages:`, an ordered list of `sft | grpo | generate | distill` stages.

Each stage is a full recipe: the recipe's top-level sections, overridden key by key by the
stage's own. `from:` says where the stage's model comes from: a path or hub id, or the name of an
earlier training stage (then its exported `model/`); `data.train.stage` (or `data.test.stage`)
reads the dataset an earlier `generate` stage wrote. The whole pipeline is validated when it is
loaded, every error naming the key as `stages[2].trainer.learning_rate`.
"""

from __future__ import annotations

import copy
import difflib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from grpo.config import Recipe, RecipeError, apply_override, check_recipe, read_raw, recipe_from_dict

KINDS = ("sft", "grpo", "generate", "distill")
TRAINING_KINDS = ("sft", "grpo", "distill")  # stages whose output is a model
STAGE_KEYS = ("name", "kind", "from", "seed")
TOP_LEVEL = ("name", "seed", "output_dir")
SECTIONS = tuple(name for name in Recipe.model_fields if name not in TOP_LEVEL)
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")


@dataclass(frozen=True)
class Stage:
    index: int
    name: str
    kind: str
    model_from: str | None  # the earlier stage this one's model comes from (None: a path or hub id)
    data_from: dict[str, str]  # split -> the generate stage whose dataset it reads
    recipe: Recipe  # validated; paths produced by earlier stages already point where they will be

    @property
    def key(self) -> str:
        return f"stages[{self.index}]"

    @property
    def depends_on(self) -> list[str]:
        return ([self.model_from] if self.model_from else []) + sorted(set(self.data_from.values()))


@dataclass(frozen=True)
class Pipeline:
    name: str
    run_dir: Path
    stages: list[Stage]
    raw: dict[str, Any]  # the recipe as loaded, overrides applied (written to the run folder)

    def stage(self, name: str) -> Stage:
        for stage in self.stages:
            if stage.name == name:
                return stage
        raise RecipeError(f"--stage {name!r}: no such stage; the stages are {[s.name for s in self.stages]}")


def stage_dir(run_dir: Path, name: str) -> Path:
    return run_dir / "stages" / name


def model_dir(run_dir: Path, name: str) -> Path:
    """Where a training stage leaves its final model (a Hugging Face checkpoint)."""
    return stage_dir(run_dir, name) / "model"


def dataset_path(run_dir: Path, name: str, fmt: str) -> Path:
    return stage_dir(run_dir, name) / f"dataset.{fmt}"


def is_pipeline(path: str | Path) -> bool:
    return "stages" in read_raw(path)


def load_pipeline(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> Pipeline:
    """Read a pipeline recipe; `stages.NAME.key=value` overrides one stage, `key=value` all of them."""
    raw = read_raw(path)
    for item in overrides:
        key, _, value = item.partition("=")
        if key.startswith("stages."):
            _, stage_name, rest = (key.split(".", 2) + ["", ""])[:3]
            target = next((s for s in raw.get("stages") or [] if isinstance(s, dict) and s.get("name") == stage_name), None)
            if target is None or not rest:
                raise RecipeError(f"override {item!r}: write stages.<stage name>.<key>=value with one of the stage names")
            apply_override(target, f"{rest}={value}")
        else:
            apply_override(raw, item)
    return pipeline_from_dict(raw)


def pipeline_from_dict(raw: dict[str, Any]) -> Pipeline:
    stages_raw = raw.get("stages")
    if not isinstance(stages_raw, list) or not stages_raw or not all(isinstance(s, dict) for s in stages_raw):
        raise RecipeError("stages must be a non-empty list of mappings, each with name, kind and its sections")
    top = {k: v for k, v in raw.items() if k != "stages"}
    if not isinstance(top.get("name"), str) or not top["name"]:
        raise RecipeError("name is required: the run folder is output_dir/name")
    run_dir = Path(top.get("output_dir", "runs")) / top["name"]
    _check_stage_keys(stages_raw)
    order = {s["name"]: i for i, s in enumerate(stages_raw)}
    kinds = {s["name"]: s["kind"] for s in stages_raw}
    _check_references(stages_raw, order, kinds)
    stages, errors = [], []
    for index, spec in enumerate(stages_raw):
        try:
            stages.append(_build_stage(index, spec, top, run_dir, kinds, stages_raw))
        except RecipeError as err:
            errors.append(f"{spec['name']} (stages[{index}], {spec['kind']}): {str(err).removeprefix('recipe has ')}")
    if errors:
        raise RecipeError("pipeline has errors:\n" + "\n".join(errors))
    return Pipeline(top["name"], run_dir, stages, raw)


def _check_stage_keys(stages_raw: list[dict[str, Any]]) -> None:
    seen: dict[str, int] = {}
    for index, spec in enumerate(stages_raw):
        key = f"stages[{index}]"
        name = spec.get("name")
        if not isinstance(name, str) or not NAME.match(name):
            raise RecipeError(f"{key}.name = {name!r}: every stage needs a name of letters, digits, '-' and '_'")
        if name in seen:
            raise RecipeError(f"{key}.name = {name!r}: stages[{seen[name]}] has the same name; names must be unique")
        seen[name] = index
        if spec.get("kind") not in KINDS:
            raise RecipeError(f"{key}.kind = {spec.get('kind')!r}: choose one of {', '.join(KINDS)}")
        for extra in sorted(set(spec) - set(STAGE_KEYS) - set(SECTIONS)):
            close = difflib.get_close_matches(extra, list(STAGE_KEYS) + list(SECTIONS), n=1)
            hint = f" (did you mean '{key}.{close[0]}'?)" if close else ""
            raise RecipeError(f"unknown key '{key}.{extra}'{hint}; a stage takes {', '.join(STAGE_KEYS)} and the "
                              f"recipe sections ({', '.join(SECTIONS)})")


def _references(spec: dict[str, Any], names: dict[str, int]) -> list[tuple[str, str]]:
    """(key, stage name) of every reference from this stage to a stage."""
    found = []
    source = spec.get("from")
    if isinstance(source, str) and source in names:
        found.append(("from", source))
    for split in ("train", "test"):
        data = (spec.get("data") or {}).get(split)
        if isinstance(data, dict) and isinstance(data.get("stage"), str):
            found.append((f"data.{split}.stage", data["stage"]))
    return found


def _check_references(stages_raw: list[dict[str, Any]], order: dict[str, int], kinds: dict[str, str]) -> None:
    graph = {s["name"]: [target for _, target in _references(s, order)] for s in stages_raw}
    cycle = _find_cycle(graph)
    if cycle:
        raise RecipeError(f"stages form a cycle: {' -> '.join(cycle)}; each stage may only use earlier ones")
    for index, spec in enumerate(stages_raw):
        key = f"stages[{index}]"
        source = spec.get("from")
        if source is not None and not isinstance(source, str):
            raise RecipeError(f"{key}.from = {source!r}: give an earlier stage's name or a model path / hub id")
        if isinstance(source, str) and source not in order and "/" not in source and not Path(source).exists():
            close = difflib.get_close_matches(source, list(order), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise RecipeError(
                f"{key}.from = {source!r} is neither an earlier stage ({', '.join(list(order)[:index]) or 'none'}) nor a "
                f"model path{hint}; name a stage, or write a path ('./dir') or hub id ('org/model')"
            )
        for field, target in _references(spec, order):
            if target not in order:
                raise RecipeError(f"{key}.{field} = {target!r}: no such stage; the stages are {list(order)}")
            if order[target] >= index:
                raise RecipeError(f"{key}.{field} = {target!r}: that stage runs at or after this one "
                                  f"(stages[{order[target]}]); a stage can only use earlier ones, reorder them")
            if field == "from" and kinds[target] == "generate":
                raise RecipeError(f"{key}.from = {target!r} is a generate stage: it writes a dataset, not a model; "
                                  f"read it with data.train.stage and start `from:` a model")
            if field != "from" and kinds[target] != "generate":
                raise RecipeError(f"{key}.{field} = {target!r} is a {kinds[target]} stage; only a generate stage "
                                  "writes a dataset")


def _find_cycle(graph: dict[str, list[str]]) -> list[str] | None:
    state: dict[str, str] = {}

    def visit(node: str, path: list[str]) -> list[str] | None:
        state[node] = "open"
        for child in graph.get(node, []):
            if state.get(child) == "open":
                return path[path.index(child):] + [child] if child in path else path + [node, child]
            if child not in state:
                found = visit(child, path + [child])
                if found:
                    return found
        state[node] = "done"
        return None

    for node in graph:
        if node not in state:
            found = visit(node, [node])
            if found:
                return found
    return None


# A dataset is one thing: a stage naming its own `data.train` replaces the inherited one whole
# (merging a `stage:` source into an inherited `task:` one would make a dataset of neither).
WHOLE = {("data", "train"), ("data", "test")}


def _merge(base: dict[str, Any], override: dict[str, Any], at: tuple[str, ...] = ()) -> dict[str, Any]:
    """Sections merge key by key (recursively); a stage's value replaces the inherited one."""
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict) and at + (key,) not in WHOLE:
            merged[key] = _merge(merged[key], value, at + (key,))
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _build_stage(index: int, spec: dict[str, Any], top: dict[str, Any], run_dir: Path, kinds: dict[str, str],
                 stages_raw: list[dict[str, Any]]) -> Stage:
    key = f"stages[{index}]"
    merged = _merge(top, {k: v for k, v in spec.items() if k in SECTIONS})
    merged["name"], merged["output_dir"] = spec["name"], str(run_dir / "stages")
    if "seed" in spec:
        merged["seed"] = spec["seed"]
    produced: set[str] = set()
    source = spec.get("from")
    model_from = source if source in kinds else None
    model = merged.setdefault("model", {})
    if model_from:
        model["path"] = str(model_dir(run_dir, model_from))
        model.pop("build_command", None)
        produced.add(model["path"])
    elif source is not None:  # a checkpoint made elsewhere: the base's build command does not make it
        model["path"] = source
        model.pop("build_command", None)
    data_from: dict[str, str] = {}
    for split in ("train", "test"):
        data = (merged.get("data") or {}).get(split)
        if isinstance(data, dict) and data.get("stage"):
            data_from[split] = data["stage"]
            producer = next(s for s in stages_raw if s["name"] == data["stage"])
            fmt = _merge(top, producer).get("generate", {}).get("format", "jsonl")
            data["path"] = str(dataset_path(run_dir, data.pop("stage"), fmt))
            produced.add(data["path"])
    recipe = recipe_from_dict(merged, prefix=f"{key}.")
    if spec["kind"] == "distill" and "train" not in data_from:
        raise RecipeError(f"{key} ({spec['name']}) is a distill stage: set {key}.data.train.stage to the generate "
                          "stage whose traces the student learns from (the teacher's accepted samples)")
    if spec["kind"] == "generate":
        labels = [v.label for v in recipe.rewards.verifiers]
        unknown = [label for label in recipe.generate.accept or [] if label not in labels]
        if unknown:
            raise RecipeError(f"{key}.generate.accept = {recipe.generate.accept!r}: {unknown} are not verifier labels "
                              f"of this stage ({labels})")
    check_recipe(recipe, prefix=f"{key}.", produced=frozenset(produced))
    return Stage(index, spec["name"], spec["kind"], model_from, data_from, recipe)


def dump_pipeline(pipeline: Pipeline) -> str:
    return yaml.safe_dump(pipeline.raw, sort_keys=False)
