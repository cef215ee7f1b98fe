"""The rows a run reads, checked before its first step: what every verifier needs is there, no row is
empty, prompts fit the model, and the test split does not repeat the train split.

"Reward is always 0" is one of the most common reports on GRPO trackers (TRL #3452, open-r1 #405):
the dataset lacked what the reward function read. Here such a dataset stops at load with the
column, the columns present and the fix; a row that can never earn reward is an error (or dropped
and counted); a prompt longer than the model can read is an error (or dropped, or truncated, and
counted).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from grpo.config import Recipe
from grpo.data import DataError, is_chat, render_prompt

Row = dict[str, Any]


@dataclass
class SplitReport:
    """What loading one split kept and dropped, and its prompts' token counts."""

    rows: int = 0
    dropped: dict[str, int] = field(default_factory=dict)  # reason -> rows
    truncated: int = 0
    prompt_tokens: list[int] = field(default_factory=list)

    def lines(self, key: str) -> list[str]:
        out = [f"{key}: {self.rows} rows"]
        out += [f"{key}: dropped {count} rows: {reason}" for reason, count in self.dropped.items() if count]
        if self.truncated:
            out.append(f"{key}: {self.truncated} prompts truncated from the left to rollout.max_prompt_tokens")
        return out


def verifier_needs(recipe: Recipe) -> dict[str, tuple]:
    """label -> the columns that verifier reads (see rewards.base.required_columns)."""
    from rewards.base import required_columns
    from rewards.registry import resolve

    return {spec.label: required_columns(resolve(spec.name), spec.kwargs) for spec in recipe.rewards.verifiers}


def needs_answer(needs: dict[str, tuple]) -> list[str]:
    return [label for label, columns in needs.items() if "answer" in columns]


def check_columns(rows: list[Row], recipe: Recipe, needs: dict[str, tuple], key: str) -> None:
    """Every column a verifier needs is in the split (judged on its first row)."""
    if not rows:
        return
    present = sorted(rows[0])
    for label, columns in needs.items():
        for need in columns:
            options = need if isinstance(need, tuple) else (need,)
            if any(option in rows[0] for option in options):
                continue
            if "answer" in options:
                raise DataError(
                    f"data.answer_column = {recipe.data.answer_column!r} is not a column of {key} (columns: "
                    f"{sorted(c for c in present if c != 'prompt')}); the verifier {label!r} needs the reference answer: "
                    "set data.answer_column to the column holding it (a dotted path reaches into nested columns, "
                    "e.g. reward_model.ground_truth)"
                )
            wanted = " or ".join(repr(o) for o in options)
            raise DataError(
                f"the verifier {label!r} reads the column {wanted}, which {key} does not have (columns: {present}); "
                f"map or add it, or remove the verifier"
            )


def _empty(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    if is_chat(value):
        return not any(str(m.get("content") or "").strip() for m in value)
    if isinstance(value, (list, tuple, dict)):
        return len(value) == 0
    return False


def invalid_rows(rows: list[Row], answer_needed: bool) -> dict[str, list[int]]:
    """reason -> indices of rows that can never earn reward."""
    found: dict[str, list[int]] = {"empty prompt": [], "no reference answer": []}
    for index, row in enumerate(rows):
        if _empty(row.get("prompt")):
            found["empty prompt"].append(index)
        elif answer_needed and _empty(row.get("answer")):
            found["no reference answer"].append(index)
    return {reason: indices for reason, indices in found.items() if indices}


def drop_invalid(rows: list[Row], recipe: Recipe, needs: dict[str, tuple], key: str, report: SplitReport) -> list[Row]:
    bad = invalid_rows(rows, bool(needs_answer(needs)))
    if not bad:
        return rows
    if recipe.data.invalid_rows == "error":
        reason, indices = next(iter(bad.items()))
        also = "; also " + ", ".join(f"{len(i)} with {r}" for r, i in list(bad.items())[1:]) if len(bad) > 1 else ""
        raise DataError(
            f"{key}: {len(indices)} of {len(rows)} rows have {reason} (rows {', '.join(map(str, indices[:5]))}"
            f"{', ...' if len(indices) > 5 else ''}){also}; they can never earn reward. Fix the data, or set "
            "data.invalid_rows=drop to train without them"
        )
    gone = {i for indices in bad.values() for i in indices}
    for reason, indices in bad.items():
        report.dropped[reason] = len(indices)
    return [row for index, row in enumerate(rows) if index not in gone]


def prompt_lengths(rows: list[Row], recipe: Recipe, tokenizer: Any) -> list[int]:
    """Tokens of each prompt as the engine will see it: the template applied, then encoded."""
    bos = 1 if tokenizer.bos_token_id is not None and getattr(tokenizer, "add_bos_token", False) else 0
    texts = [render_prompt(row["prompt"], recipe.data, tokenizer) for row in rows]
    return [len(ids) + bos for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]] if texts else []


def apply_length_limit(rows: list[Row], recipe: Recipe, tokenizer: Any, key: str, report: SplitReport) -> list[Row]:
    limit = recipe.rollout.max_prompt_tokens
    lengths = prompt_lengths(rows, recipe, tokenizer)
    report.prompt_tokens = lengths
    if limit is None:
        return rows
    over = [i for i, n in enumerate(lengths) if n > limit]
    if not over:
        return rows
    policy = recipe.data.overlong_prompts
    if policy == "error":
        raise DataError(
            f"{key}: {len(over)} of {len(rows)} prompts are longer than rollout.max_prompt_tokens = {limit} with the "
            f"template applied (rows {', '.join(map(str, over[:5]))}{', ...' if len(over) > 5 else ''}; longest "
            f"{max(lengths)} tokens). Raise rollout.max_prompt_tokens (up to the model's context minus "
            "rollout.max_completion_tokens), or set data.overlong_prompts=drop or truncate"
        )
    if policy == "truncate":
        report.truncated = len(over)
        return rows
    report.dropped["prompt over rollout.max_prompt_tokens"] = len(over)
    gone = set(over)
    report.prompt_tokens = [n for i, n in enumerate(lengths) if i not in gone]
    return [row for index, row in enumerate(rows) if index not in gone]


def normalised(prompt: Any) -> str:
    text = " ".join(str(m.get("content", "")) for m in prompt) if is_chat(prompt) else str(prompt)
    return " ".join(text.split())


def overlapping(train: list[Row], test: list[Row]) -> list[int]:
    """Indices of test rows whose prompt also occurs in train (whitespace-normalised)."""
    seen = {normalised(row["prompt"]) for row in train}
    return [i for i, row in enumerate(test) if normalised(row["prompt"]) in seen]
