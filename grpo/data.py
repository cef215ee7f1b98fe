"""Datasets for training and evaluation: loading, column mapping, prompt templates, batching.

Every row becomes a plain dict with `prompt` (text or chat messages), `answer`, and all other
columns untouched, because verifiers may need any of them (test cases, numbers, target, ...).
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

from grpo.config import DataConfig, DatasetConfig

# DeepSeek-R1 paper, Table 1: the template R1-Zero was trained with, for base models.
R1_ZERO_TEMPLATE = (
    "A conversation between User and Assistant. The user asks a question, and the Assistant solves it. "
    "The assistant first thinks about the reasoning process in the mind and then provides the user with "
    "the answer. The reasoning process and answer are enclosed within <think> </think> and <answer> "
    "</answer> tags, respectively, i.e., <think> reasoning process here </think> <answer> answer here "
    "</answer>. User: {prompt}. Assistant:"
)


class DataError(ValueError):
    """A dataset that cannot be used as configured; the message names the key and the fix."""


Row = dict[str, Any]


def load_rows(spec: DatasetConfig, key: str) -> list[Row]:
    """Rows of a built-in task, a local file or directory, or a hub dataset; `key` names it in errors."""
    if spec.task is not None:
        from grpo.tasks import TASKS

        try:
            rows = TASKS[spec.task](split=_task_split(spec.split), num_samples=spec.num_samples, seed=spec.seed, **spec.task_kwargs)
        except (TypeError, ValueError) as err:
            raise DataError(f"{key}.task_kwargs = {spec.task_kwargs!r}: {err}") from None
        return rows
    assert spec.path is not None
    rows = _read_path(spec, key)
    if spec.num_samples is not None:
        rows = rows[: spec.num_samples]
    if not rows:
        raise DataError(f"{key}.path = {spec.path!r} holds no rows")
    return rows


def _task_split(split: str) -> str:
    return "test" if split in ("test", "validation", "eval") else "train"


def _read_path(spec: DatasetConfig, key: str) -> list[Row]:
    path = Path(spec.path)  # type: ignore[arg-type]
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        rows = []
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as err:
                    raise DataError(f"{key}.path = {str(path)!r}, line {number}: not JSON ({err})") from None
        return rows
    if suffix == ".json":
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, list):
            raise DataError(f"{key}.path = {str(path)!r}: a .json dataset must be a list of objects")
        return data
    if suffix == ".parquet":
        import pyarrow.parquet as pq

        return pq.read_table(path).to_pylist()
    return _read_datasets(spec, key)


def _read_datasets(spec: DatasetConfig, key: str) -> list[Row]:
    """A directory written by `datasets.save_to_disk`, or anything `datasets.load_dataset` reads."""
    import datasets

    path = Path(spec.path)  # type: ignore[arg-type]
    try:
        if path.is_dir() and ((path / "dataset_info.json").exists() or (path / "dataset_dict.json").exists()):
            loaded = datasets.load_from_disk(str(path))
            if isinstance(loaded, datasets.DatasetDict):
                if spec.split not in loaded:
                    raise DataError(f"{key}.split = {spec.split!r} not in {list(loaded)}; pick one of them")
                loaded = loaded[spec.split]
        else:
            loaded = datasets.load_dataset(spec.path, spec.name, split=spec.split)
    except DataError:
        raise
    except Exception as err:  # datasets raises many types; all mean "cannot read this"
        raise DataError(f"{key}.path = {spec.path!r}: cannot load it with `datasets` ({type(err).__name__}: {err})") from None
    return [dict(row) for row in loaded]


def column(row: Row, path: str) -> Any:
    """row[path], where a dotted path reaches into nested columns: `reward_model.ground_truth`.
    A top-level column whose name itself holds dots wins. Missing: KeyError."""
    if path in row:
        return row[path]
    value: Any = row
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            raise KeyError(path)
        value = value[part]
    return value


def has_column(row: Row, path: str) -> bool:
    try:
        column(row, path)
    except KeyError:
        return False
    return True


def map_columns(rows: list[Row], config: DataConfig, key: str) -> list[Row]:
    """Rename the configured prompt/answer columns to `prompt` / `answer`; keep every other column."""
    if not rows:
        return rows
    if config.prompt_format is not None:
        try:
            rows = [{**row, config.prompt_column: config.prompt_format.format(**row)} for row in rows]
        except (KeyError, IndexError, ValueError) as err:
            raise DataError(
                f"data.prompt_format = {config.prompt_format!r}: cannot fill it from the columns of {key} "
                f"({sorted(rows[0])}): {type(err).__name__}: {err}"
            ) from None
    prompt_column, answer_column = known_layout(rows[0], config, key)
    missing = [c for c in (prompt_column,) if not has_column(rows[0], c)]
    if missing:
        raise DataError(
            f"data.prompt_column = {config.prompt_column!r} is not a column of {key} (columns: "
            f"{sorted(rows[0])}); set data.prompt_column to the column holding the question"
        )
    mapped = []
    for row in rows:
        new = dict(row)
        new["prompt"] = column(row, prompt_column)
        if has_column(row, answer_column):
            new["answer"] = column(row, answer_column)
        mapped.append(new)
    return mapped


# Layouts people already have, read without a mapping when the recipe keeps the default column
# names and the dataset has none of them: (prompt, answer) columns, first match wins.
KNOWN_PROMPTS = ("problem", "question")  # open-r1 / MATH / NuminaMath, GSM8K
KNOWN_ANSWERS = ("reward_model.ground_truth", "answer", "solution")  # verl / TinyZero, open-r1, MATH (\boxed{})


def known_layout(row: Row, config: DataConfig, key: str) -> tuple[str, str]:
    """The prompt and answer columns to read: the recipe's, or a recognised layout's when the
    recipe left the defaults and the dataset lacks them (said once, so nothing happens silently)."""
    prompt, answer = config.prompt_column, config.answer_column
    chosen = []
    if prompt == "prompt" and not has_column(row, prompt):
        found = next((c for c in KNOWN_PROMPTS if has_column(row, c)), None)
        if found:
            prompt = found
            chosen.append(f"prompt_column={found}")
    if answer == "answer" and not has_column(row, answer):
        found = next((c for c in KNOWN_ANSWERS if has_column(row, c)), None)
        if found:
            answer = found
            chosen.append(f"answer_column={found}")
    if chosen:
        print(f"{key}: no {'/'.join(c.split('=')[0].removesuffix('_column') for c in chosen)} column; reading "
              f"{', '.join(chosen)} (set data.prompt_column / data.answer_column to choose others)", flush=True)
    return prompt, answer


def render_prompt(prompt: Any, config: DataConfig, tokenizer: Any | None) -> str:
    """The text the engine sees. `prompt` is a string or a list of {role, content} messages."""
    if config.template == "chat":
        if tokenizer is None or not getattr(tokenizer, "chat_template", None):
            raise DataError(
                "data.template = 'chat' but the tokenizer has no chat template; use data.template=r1_zero "
                "for base models"
            )
        messages = _as_messages(prompt)
        if config.system_prompt and messages[0]["role"] != "system":
            messages = [{"role": "system", "content": config.system_prompt}] + messages
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    text = _as_text(prompt)
    if config.template == "r1_zero":
        return R1_ZERO_TEMPLATE.format(prompt=text)
    return text


def is_chat(prompt: Any) -> bool:
    return isinstance(prompt, list) and all(isinstance(m, dict) and "content" in m for m in prompt)


def _as_messages(prompt: Any) -> list[dict[str, str]]:
    if is_chat(prompt):
        return [dict(m) for m in prompt]
    return [{"role": "user", "content": str(prompt)}]


def _as_text(prompt: Any) -> str:
    """A chat prompt under a text template: the last user message is the question."""
    if is_chat(prompt):
        users = [m["content"] for m in prompt if m.get("role") == "user"]
        return users[-1] if users else prompt[-1]["content"]
    return str(prompt)


class PromptSampler:
    """Prompts per step, in a seeded order that a resumed run reproduces from the step number alone."""

    def __init__(self, rows: list[Row], prompts_per_step: int, seed: int, shuffle: bool = True):
        if len(rows) < prompts_per_step:
            raise DataError(
                f"the training set has {len(rows)} rows but rollout.prompts_per_step = {prompts_per_step}; "
                "lower prompts_per_step or add data"
            )
        self.rows = rows
        self.prompts_per_step = prompts_per_step
        self.seed = seed
        self.shuffle = shuffle
        self.steps_per_epoch = len(rows) // prompts_per_step

    def _order(self, epoch: int) -> list[int]:
        order = list(range(len(self.rows)))
        if self.shuffle:
            random.Random(f"{self.seed}-{epoch}").shuffle(order)
        return order

    def batch(self, step: int) -> list[Row]:
        """Prompts of `step` (0-based): consecutive slices of a per-epoch seeded permutation."""
        epoch, slot = divmod(step, self.steps_per_epoch)
        order = self._order(epoch)
        start = slot * self.prompts_per_step
        return [self.rows[i] for i in order[start : start + self.prompts_per_step]]

    def refill(self, step: int, round_index: int, count: int) -> list[Row]:
        """Extra prompts for dynamic sampling's refill rounds, from their own seeded stream."""
        rng = random.Random(f"{self.seed}-refill-{step}-{round_index}")
        return [self.rows[i] for i in rng.sample(range(len(self.rows)), min(count, len(self.rows)))]
