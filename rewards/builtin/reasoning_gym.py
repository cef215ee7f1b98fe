"""reasoning-gym's own answer checker as a verifier, for rows of the `reasoning_gym` task (their
`metadata` names the dataset and holds what its checker needs)."""

from __future__ import annotations

from typing import Any

from rewards.base import Sample, VerifierResult, verifier
from rewards.registry import register


@register("reasoning_gym")
@verifier(needs=("answer", "metadata"))
def reasoning_gym_score(sample: Sample, dataset: str | None = None, tag: str = "answer") -> VerifierResult:
    """The dataset's `score_answer(answer, entry)` on the `<answer>` content (0.0 when there is none).
    `dataset` defaults to the row's metadata.source_dataset."""
    try:
        import reasoning_gym
        from reasoning_gym.utils import extract_answer
    except ImportError:
        raise RuntimeError("the reasoning_gym verifier needs the reasoning-gym package: "
                           "pip install 'grpo[reasoning-gym]'") from None
    metadata: dict[str, Any] = sample.columns.get("metadata") or {}
    name = dataset or metadata.get("source_dataset")
    if not name:
        raise ValueError("no dataset: pass kwargs.dataset, or use rows of the reasoning_gym task (metadata.source_dataset)")
    extracted = extract_answer(sample.completion, tag_name=tag)
    if extracted is None:
        return VerifierResult(0.0, {"extracted": None})
    entry = {"question": sample.prompt, "answer": sample.answer, "metadata": metadata}
    return VerifierResult(float(reasoning_gym.get_score_answer_fn(name)(extracted, entry)), {"extracted": extracted})
