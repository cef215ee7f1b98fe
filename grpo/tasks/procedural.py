"""reasoning-gym's procedural tasks (100+ generators: arithmetic, logic, puzzles, games) as a data
source: `data.train: {task: reasoning_gym, num_samples: 2000, task_kwargs: {dataset: chain_sum,
min_digits: 3}}`, scored by the `reasoning_gym` verifier with the task's own answer checker.

Optional extra: `pip install 'grpo[reasoning-gym]'`. As for our own tasks, the train and test
splits are disjoint by a hash of the question, whatever seeds or sizes are asked for.
"""

from __future__ import annotations

from typing import Any

from grpo.tasks._split import check_split, split_of

INSTALL = "pip install 'grpo[reasoning-gym]'"


def generate_reasoning_gym(split: str = "train", num_samples: int = 1000, seed: int = 0, dataset: str | None = None,
                           **config: Any) -> list[dict[str, Any]]:
    """Rows {prompt, answer, metadata} of reasoning-gym dataset `dataset` (its config in `config`)."""
    check_split(split)
    try:
        import reasoning_gym
    except ImportError:
        raise ValueError(f"task reasoning_gym needs the reasoning-gym package: {INSTALL}") from None
    if not dataset:
        raise ValueError("task reasoning_gym needs task_kwargs.dataset, one of reasoning_gym's datasets "
                         "(e.g. chain_sum, basic_arithmetic, countdown, knights_knaves)")
    from reasoning_gym.factory import DATASETS

    if dataset not in DATASETS:
        raise ValueError(f"reasoning-gym has no dataset {dataset!r}; some of its {len(DATASETS)}: {sorted(DATASETS)[:12]} ...")
    rows: list[dict[str, Any]] = []
    seen: set[str] = set()
    size = 2 * num_samples + 16
    for attempt in range(6):  # a split holds ~90% / ~10% of the questions: draw until there are enough
        entries = reasoning_gym.create_dataset(dataset, size=size, seed=seed + 7919 * attempt, **config)
        for entry in entries:
            question = entry["question"]
            if question in seen or split_of(question) != split:
                continue
            seen.add(question)
            rows.append({"prompt": question, "answer": str(entry["answer"]), "metadata": entry.get("metadata", {})})
            if len(rows) == num_samples:
                return rows
        size *= 4 if split == "test" else 2
    raise ValueError(f"reasoning-gym {dataset!r} gave only {len(rows)} distinct {split} questions of the "
                     f"{num_samples} asked for; ask for fewer or widen its config")
