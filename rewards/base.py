"""The verifier interface: what a verifier receives (`Sample`), returns, and how every accepted
shape of verifier (per-sample function, batched function, class, TRL reward function) is turned
into one batched call.

One documented signature, five accepted shapes:
- per sample:  ``def my_verifier(sample: Sample, **kwargs) -> float | VerifierResult | None``
- batched:     ``@verifier(batched=True) def f(samples: list[Sample], **kwargs) -> list[...]``
- TRL style:   ``def f(prompts, completions, **columns) -> list[float | None]`` (recognised by its
  ``completions`` parameter; completions are strings for text prompts and
  ``[{"role": "assistant", "content": ...}]`` for chat prompts, exactly as TRL passes them)
- verl style:  ``def compute_score(data_source, solution_str, ground_truth, extra_info=None)``
  returning a float or a dict with ``score`` (other keys are logged as details); fed from the
  row's ``data_source``, answer (``reward_model.ground_truth`` in verl's layout) and ``extra_info``
- OpenRLHF:    ``def reward_func(queries, prompts, labels, **kwargs)`` where a query is prompt +
  response, returning a tensor/list or a dict with ``rewards`` (and ``scores``, ``extra_logs``)
A class is instantiated once with the recipe's kwargs and its instances called like a function.
``None`` means "not applicable to this sample".
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any, Callable

Score = float | None


@dataclass
class Sample:
    """One completion to judge, with its prompt, reference answer and every other dataset column."""

    prompt: Any
    completion: str
    answer: Any = None
    columns: dict[str, Any] = field(default_factory=dict)
    finish_reason: str = "stop"
    completion_tokens: int = 0
    max_completion_tokens: int = 0
    # multi-turn episodes: [{"role": "policy" | "env", "text": ...}] in order (the completion is
    # their concatenation) and the environment's info (tool_calls, tool_errors, turns, ...)
    turns: list[dict[str, str]] = field(default_factory=list)
    env: dict[str, Any] = field(default_factory=dict)

    @property
    def is_chat(self) -> bool:
        return isinstance(self.prompt, list)

    @property
    def completion_messages(self) -> list[dict[str, str]] | None:
        """The completion as one assistant message when the prompt was chat, else None."""
        return [{"role": "assistant", "content": self.completion}] if self.is_chat else None

    def __getitem__(self, column: str) -> Any:
        return self.columns[column]


@dataclass
class VerifierResult:
    """A score plus details worth logging (what was extracted, why it failed)."""

    value: Score
    details: dict[str, Any] = field(default_factory=dict)


class VerifierError(ValueError):
    """A verifier that cannot be found or built; the message names the recipe key and the fix."""


BatchedVerifier = Callable[[list[Sample]], list[VerifierResult]]

_SHAPE_ATTR = "__grpo_verifier_shape__"
_NEEDS_ATTR = "__grpo_verifier_needs__"
# what a verifier reads from each row: a column name ("answer" is the reference answer of
# data.answer_column), or a tuple of alternatives of which one must be present
Need = str | tuple[str, ...]
TRL_RESERVED = ("prompts", "completions", "completion_ids", "trainer_state", "log_extra", "log_metric")


def verifier(fn: Callable[..., Any] | None = None, *, batched: bool = False,
             needs: tuple[Need, ...] | Callable[[dict[str, Any]], tuple[Need, ...]] | None = None) -> Any:
    """Mark a function as batched (``@verifier(batched=True)``) or per sample (the default), and
    declare the dataset columns it needs (``needs=("answer",)``, or a function of its kwargs), so a
    dataset without them is refused before training instead of scoring 0 on every sample."""

    def mark(target: Callable[..., Any]) -> Callable[..., Any]:
        setattr(target, _SHAPE_ATTR, "batched" if batched else "sample")
        if needs is not None:
            setattr(target, _NEEDS_ATTR, needs)
        return target

    return mark(fn) if fn is not None else mark


def required_columns(fn: Callable[..., Any], kwargs: dict[str, Any]) -> tuple[Need, ...]:
    """The columns a verifier reads: declared with `needs` (or a `needs` attribute), else, for a
    TRL-style function, its parameters without defaults (as TRL passes columns by name)."""
    declared = getattr(fn, _NEEDS_ATTR, None)
    if declared is None and not inspect.isfunction(fn):
        declared = getattr(fn, "needs", None)
    if declared is not None:
        return tuple(declared(kwargs) if callable(declared) else declared)
    if shape_of(fn) in ("verl", "openrlhf"):
        return (("answer", "reward_model.ground_truth"),)  # the reference: mapped, or verl's layout
    if shape_of(fn) != "trl":
        return ()
    try:
        parameters = inspect.signature(fn.__call__ if inspect.isclass(fn) else fn).parameters
    except (TypeError, ValueError):
        return ()
    return tuple(
        name for name, p in parameters.items()
        if p.default is inspect.Parameter.empty and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
        and name not in TRL_RESERVED and name not in ("self",) and name not in kwargs
    )


def shape_of(fn: Callable[..., Any]) -> str:
    """'sample', 'batched' or 'trl', from the explicit mark or else the signature."""
    marked = getattr(fn, _SHAPE_ATTR, None)
    if marked:
        return marked
    try:
        # a class is judged by its __call__, so finding the shape never instantiates it
        parameters = inspect.signature(fn.__call__ if inspect.isclass(fn) else fn).parameters
    except (TypeError, ValueError):
        return "sample"
    if "completions" in parameters:
        return "trl"
    if "samples" in parameters:
        return "batched"
    if {"solution_str", "ground_truth"} <= set(parameters):
        return "verl"
    if {"queries", "labels"} <= set(parameters):
        return "openrlhf"
    return "sample"


SHAPES = (
    "def f(sample, **kwargs) -> float | None",
    "@verifier(batched=True) def f(samples, **kwargs) -> list",
    "TRL: def f(prompts, completions, **columns) -> list",
    "verl: def compute_score(data_source, solution_str, ground_truth, extra_info=None) -> float | dict",
    "OpenRLHF: def reward_func(queries, prompts, labels, **kwargs) -> tensor | dict",
)


def unfillable_parameters(fn: Callable[..., Any], kwargs: dict[str, Any]) -> list[str]:
    """For a per-sample verifier: required parameters besides the sample that the recipe's kwargs do
    not fill. Non-empty means the function fits none of the accepted shapes."""
    if shape_of(fn) != "sample" or inspect.isclass(fn):
        return []
    try:
        parameters = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return []
    positional = [p for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    required = [p.name for p in parameters[1:] if p.default is p.empty
                and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name not in kwargs]
    if not positional:
        return [p.name for p in parameters if p.default is p.empty and p.kind is p.KEYWORD_ONLY] or ["<sample>"]
    return required


def as_batched(fn: Callable[..., Any], kwargs: dict[str, Any]) -> BatchedVerifier:
    """Wrap any accepted verifier shape into samples -> list[VerifierResult]."""
    shape = shape_of(fn)

    if shape == "trl":

        accepted = _accepted_keywords(fn)

        def call_trl(samples: list[Sample]) -> list[VerifierResult]:
            columns = _column_lists(samples)
            if accepted is not None:  # no **kwargs: hand over only the columns it names
                columns = {k: v for k, v in columns.items() if k in accepted}
            completions = [s.completion_messages if s.is_chat else s.completion for s in samples]
            prompts = [s.prompt for s in samples]
            return _results(fn(prompts=prompts, completions=completions, **columns, **kwargs), len(samples))

        return call_trl

    if shape == "batched":
        return lambda samples: _results(fn(samples, **kwargs), len(samples))

    if shape == "verl":
        return lambda samples: [_verl_result(fn(data_source=s.columns.get("data_source"), solution_str=s.completion,
                                                ground_truth=_ground_truth(s), extra_info=s.columns.get("extra_info"),
                                                **kwargs)) for s in samples]

    if shape == "openrlhf":

        def call_openrlhf(samples: list[Sample]) -> list[VerifierResult]:
            prompts = [s.prompt if isinstance(s.prompt, str) else str(s.prompt) for s in samples]
            queries = [p + s.completion for p, s in zip(prompts, samples)]
            out = fn(queries=queries, prompts=prompts, labels=[_ground_truth(s) for s in samples], **kwargs)
            return _openrlhf_results(out, len(samples))

        return call_openrlhf

    return lambda samples: [_result(fn(sample, **kwargs)) for sample in samples]


def _accepted_keywords(fn: Callable[..., Any]) -> set[str] | None:
    """Parameter names of `fn`, or None when it takes **kwargs (then it gets every column)."""
    try:
        parameters = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return None
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return None
    return set(parameters)


def _column_lists(samples: list[Sample]) -> dict[str, list[Any]]:
    """Dataset columns as TRL passes them: one list per column, plus answer and lengths."""
    names: list[str] = []
    for sample in samples:
        names += [n for n in sample.columns if n not in names]
    columns = {name: [s.columns.get(name) for s in samples] for name in names if name not in ("prompt", "completion")}
    columns.setdefault("answer", [s.answer for s in samples])
    columns["completion_tokens"] = [s.completion_tokens for s in samples]
    return columns


def _ground_truth(sample: Sample) -> Any:
    """The reference answer: data.answer_column's value, else verl's reward_model.ground_truth."""
    if sample.answer is not None:
        return sample.answer
    model = sample.columns.get("reward_model")
    return model.get("ground_truth") if isinstance(model, dict) else None


def _verl_result(value: Any) -> VerifierResult:
    """verl returns a number, or a dict whose `score` is the reward and whose other keys are logged."""
    if isinstance(value, dict):
        if "score" not in value:
            raise ValueError(f"a verl-style compute_score returned a dict without 'score' (keys {sorted(value)})")
        return VerifierResult(None if value["score"] is None else float(value["score"]),
                              {k: v for k, v in value.items() if k != "score"})
    return _result(value)


def _openrlhf_results(out: Any, count: int) -> list[VerifierResult]:
    """OpenRLHF returns a tensor of rewards, or a dict with `rewards` (plus `scores`, `extra_logs`)."""
    details: dict[str, Any] = {}
    if isinstance(out, dict):
        if "rewards" not in out:
            raise ValueError(f"an OpenRLHF reward_func returned a dict without 'rewards' (keys {sorted(out)})")
        details = {k: out[k] for k in ("scores", "extra_logs") if k in out}
        out = out["rewards"]
    values = out.tolist() if hasattr(out, "tolist") else list(out)
    if len(values) != count:
        raise ValueError(f"an OpenRLHF reward_func returned {len(values)} rewards for {count} queries")
    per_sample = []
    for index, value in enumerate(values):
        row = {}
        for key, logged in details.items():
            if isinstance(logged, dict):
                row.update({f"{key}.{k}": _item(v, index) for k, v in logged.items()})
            else:
                row[key] = _item(logged, index)
        per_sample.append(VerifierResult(float(value), row))
    return per_sample


def _item(value: Any, index: int) -> Any:
    """Element `index` of a per-sample tensor or list, or the value itself when it is a scalar."""
    if hasattr(value, "tolist"):
        value = value.tolist()
    return value[index] if isinstance(value, list) and len(value) > index else value


def _results(values: Any, count: int) -> list[VerifierResult]:
    values = list(values)
    if len(values) != count:
        raise ValueError(f"a batched verifier returned {len(values)} scores for {count} samples")
    return [_result(v) for v in values]


def _result(value: Any) -> VerifierResult:
    if isinstance(value, VerifierResult):
        return VerifierResult(None if value.value is None else float(value.value), value.details)
    if value is None:
        return VerifierResult(None)
    if isinstance(value, bool):
        return VerifierResult(float(value))
    if isinstance(value, (int, float)):
        return VerifierResult(float(value))
    raise TypeError(f"a verifier returned {type(value).__name__}; return a float, None or VerifierResult")
