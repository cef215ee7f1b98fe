"""`grpo check RECIPE`: the preflight to run before a long job, fast on a CPU.

It reads what training would read and says, before the first GPU minute, what would go wrong:
the model and tokenizer, every split (rows kept and dropped, prompt lengths against the limit,
three prompts exactly as the model will see them), what each verifier reads, whether the
verifiers accept the dataset's own reference solutions (anything under 100% means the verifier
and the data disagree), and what the base model scores: K samples on M prompts, pass@K, the
truncation rate, and the share of groups whose rewards are all equal (GRPO learns nothing from
those). Fatal findings make the exit code non-zero.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from grpo.config import Recipe, RecipeError
from grpo.data import DataError, render_prompt


@dataclass
class Finding:
    section: str
    level: str  # "ok" | "warning" | "fatal"
    message: str


@dataclass
class CheckReport:
    findings: list[Finding] = field(default_factory=list)
    sections: dict[str, Any] = field(default_factory=dict)

    @property
    def fatal(self) -> bool:
        return any(f.level == "fatal" for f in self.findings)

    def add(self, section: str, level: str, message: str) -> None:
        self.findings.append(Finding(section, level, message))

    def as_dict(self) -> dict[str, Any]:
        return {"fatal": self.fatal, "findings": [f.__dict__ for f in self.findings], **self.sections}

    def text(self) -> str:
        lines = []
        for name, body in self.sections.items():
            lines.append(f"== {name}")
            lines += [f"  {line}" for line in body.get("lines", [])]
        lines.append("== findings")
        lines += [f"  [{f.level}] {f.section}: {f.message}" for f in self.findings]
        lines.append("verdict: " + ("FATAL: fix the findings above before training" if self.fatal else "ok to train"))
        return "\n".join(lines)


def run_check(recipe: Recipe, *, solution_column: str | None = None, solution_format: str | None = None,
              samples: int = 8, prompts: int = 16, base: bool = True) -> CheckReport:
    report = CheckReport()
    from grpo.model_source import prepare

    try:
        recipe, tokenizer = prepare(recipe)
    except RecipeError as err:
        report.add("model", "fatal", str(err))
        return report
    report.sections["model"] = {"lines": [f"{recipe.model.path}: tokenizer ok, prompt limit "
                                          f"{recipe.rollout.max_prompt_tokens} + completion {recipe.rollout.max_completion_tokens} tokens"]}
    rows = _data(recipe, tokenizer, report)
    if rows is None:
        return report
    _verifiers(recipe, rows, report)
    _references(recipe, rows, report, solution_column, solution_format)
    if base and not report.fatal:
        _base_model(recipe, tokenizer, rows[:prompts], samples, report)
    return report


def _data(recipe: Recipe, tokenizer: Any, report: CheckReport) -> list[dict[str, Any]] | None:
    from grpo.inputs import overlapping
    from grpo.trainer import load_data

    reports: dict[str, Any] = {}
    try:
        train, test = load_data(recipe, tokenizer, quiet=True, reports=reports)
    except DataError as err:
        report.add("data", "fatal", str(err))
        return None
    lines = []
    for split in ("train", "test"):
        if split not in reports:
            continue
        split_report = reports[split]
        lines += split_report.lines(f"data.{split}")
        lines += _histogram(split_report.prompt_tokens, recipe.rollout.max_prompt_tokens)
        for reason, count in split_report.dropped.items():
            report.add("data", "warning", f"data.{split}: {count} rows dropped: {reason}")
    if reports.get("overlap"):
        report.add("data", "warning", f"{reports['overlap']} test prompts also occur in data.train"
                   + ("" if recipe.data.drop_test_overlap else " (data.drop_test_overlap=true drops them)"))
    lines.append("three prompts exactly as the model sees them (repr, special tokens visible):")
    lines += [f"  {render_prompt(row['prompt'], recipe.data, tokenizer)!r}" for row in train[:3]]
    report.sections["data"] = {"lines": lines, "train_rows": len(train), "test_rows": len(test),
                               "overlap": len(overlapping(train, test))}
    return train


def _histogram(lengths: list[int], limit: int | None, bins: int = 8) -> list[str]:
    if not lengths:
        return []
    top = max(limit or 0, max(lengths))
    width = max(1, -(-top // bins))
    counts = [0] * bins
    for n in lengths:
        counts[min(bins - 1, (n - 1) // width if n else 0)] += 1
    scale = max(counts)
    out = [f"prompt tokens: min {min(lengths)}, mean {sum(lengths) / len(lengths):.0f}, max {max(lengths)}, limit {limit}"]
    for index, count in enumerate(counts):
        low, high = index * width + 1, (index + 1) * width
        mark = " <- limit" if limit and low <= limit <= high else ""
        out.append(f"  {low:>6}-{high:<6} {'#' * round(30 * count / scale):<30} {count}{mark}")
    return out


def _verifiers(recipe: Recipe, rows: list[dict[str, Any]], report: CheckReport) -> None:
    from grpo.inputs import verifier_needs

    lines = []
    for label, needs in verifier_needs(recipe).items():
        if not needs:
            lines.append(f"{label}: reads the completion only")
            continue
        described = []
        for need in needs:
            options = need if isinstance(need, tuple) else (need,)
            present = [o for o in options if o in rows[0]]
            described.append(f"{' or '.join(options)} ({'present' if present else 'MISSING'})")
        lines.append(f"{label}: reads {', '.join(described)}")
    report.sections["verifiers"] = {"lines": lines}


def _references(recipe: Recipe, rows: list[dict[str, Any]], report: CheckReport, column: str | None,
                template: str | None) -> None:
    """Every verifier scores the dataset's own reference solutions: they should all pass."""
    from rewards import Sample, build

    column = column or "solution"
    if column not in rows[0]:
        report.sections["reference check"] = {"lines": [f"no {column!r} column: skipped (--solution-column names one)"]}
        return
    template = template or recipe.sft.completion_format
    lines, threshold = [], 0.5
    try:
        completions = [template.format(**row) if template else str(row[column]) for row in rows]
    except (KeyError, IndexError, ValueError) as err:
        report.add("reference check", "fatal", f"--solution-format cannot be filled from the rows: {err}")
        return
    samples = [Sample(row["prompt"], text, answer=row.get("answer"),
                      columns={k: v for k, v in row.items() if k not in ("prompt", "answer")},
                      completion_tokens=0, max_completion_tokens=recipe.rollout.max_completion_tokens)
               for row, text in zip(rows, completions)]
    for spec in recipe.rewards.verifiers:
        results = build(spec.name, spec.kwargs)(samples)
        failing = [i for i, r in enumerate(results) if r.value is not None and r.value < threshold]
        scored = sum(r.value is not None for r in results)
        lines.append(f"{spec.label}: accepts {scored - len(failing)} of {scored} reference solutions")
        if failing:
            report.add("reference check", "fatal",
                       f"{spec.label} rejects {len(failing)} of {scored} reference solutions: the verifier and the data "
                       f"disagree (rows {', '.join(map(str, failing[:8]))}{', ...' if len(failing) > 8 else ''})")
            for i in failing[:5]:
                lines.append(f"  row {i}: answer {rows[i].get('answer')!r}, reference {completions[i][-120:]!r}")
    report.sections["reference check"] = {"lines": lines}


def _base_model(recipe: Recipe, tokenizer: Any, rows: list[dict[str, Any]], k: int, report: CheckReport) -> None:
    """K samples per prompt from the base with the rollout engine, scored by the verifiers."""
    import torch

    from grpo import algorithms
    from grpo.cluster import init_ray, shutdown, start_actors
    from grpo.evaluate import correctness_label
    from grpo.rollout.collect import generate_and_score
    from grpo.trainer import sampling_params
    from rewards.combine import verifier_means

    started = init_ray(recipe)
    try:
        actors = start_actors(recipe)
        params = sampling_params(recipe)
        params = type(params)(**{**params.__dict__, "n": k})
        prompts = [render_prompt(row["prompt"], recipe.data, tokenizer) for row in rows]
        specs = [spec.model_dump() for spec in recipe.rewards.verifiers]
        scored = generate_and_score(actors, prompts, rows, params, specs, seed=recipe.seed, step=0,
                                    none_as=recipe.rewards.none_as, max_completion_tokens=recipe.rollout.max_completion_tokens)
    finally:
        shutdown(started)
    target = correctness_label(recipe)
    correct = [(v or 0.0) >= 0.5 for v in scored.scores.per_verifier[target]]
    solved = sum(any(correct[i : i + k]) for i in range(0, len(correct), k))
    truncated = sum(c.finish_reason == "length" for c in scored.completions) / len(scored.completions)
    equal = 1.0 - float(algorithms.informative_groups(torch.tensor(scored.scores.totals), k).float().mean())
    means = verifier_means(scored.scores.per_verifier)
    lines = [f"{len(rows)} prompts x {k} samples:"]
    lines += [f"  reward/{label}: {mean:.3f}" for label, mean in means.items()]
    lines += [f"  pass@{k} ({target}): {solved / len(rows):.3f} ({solved} of {len(rows)} prompts solved)",
              f"  truncated at max_completion_tokens: {truncated:.1%}",
              f"  groups with all-equal rewards (no learning signal): {equal:.1%}"]
    report.sections["base model"] = {"lines": lines, "pass_at_k": solved / len(rows), "truncated": truncated,
                                     "equal_groups": equal, "means": means}
    if solved == 0:
        report.add("base model", "fatal", f"the base solves 0 of {len(rows)} prompts at K = {k}: too hard for RL from "
                   "this base; easier data or an SFT stage first")
    elif equal > 0.8:
        report.add("base model", "warning", f"{equal:.0%} of groups have all-equal rewards: most steps will carry little "
                   "signal (larger rollout.group_size, or data matched to the base)")
    else:
        report.add("base model", "ok", f"the base solves {solved} of {len(rows)} prompts at K = {k}")
    if truncated > 0.5:
        report.add("base model", "warning", f"{truncated:.0%} of samples hit rollout.max_completion_tokens; raise it")
