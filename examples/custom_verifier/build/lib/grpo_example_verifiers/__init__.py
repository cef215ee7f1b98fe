"""Two example verifiers, one in each style grpo accepts.

`even_answer` is a per-sample verifier: it gets one `Sample` and returns a float, `None` (not
applicable) or a `VerifierResult` with details to log.

`answer_length` is a TRL-style reward function: it gets lists (`prompts`, `completions` and every
dataset column as a keyword) and returns one float or None per completion. It would work
unchanged in TRL's GRPOTrainer.
"""

from __future__ import annotations

import re

_ANSWER = re.compile(r"<answer>\s*(-?\d+)\s*</answer>")


def even_answer(sample, bonus: float = 1.0):
    """`bonus` when the <answer> is an even integer, 0 when odd, None when there is no integer answer."""
    found = _ANSWER.search(sample.completion)
    if found is None:
        return None
    return bonus if int(found.group(1)) % 2 == 0 else 0.0


def answer_length(prompts, completions, answer, **columns):
    """1.0 when the <answer> has as many digits as the reference answer, else 0.0."""
    rewards = []
    for completion, reference in zip(completions, answer):
        text = completion if isinstance(completion, str) else completion[0]["content"]
        found = _ANSWER.search(text)
        rewards.append(float(found is not None and len(found.group(1)) == len(str(reference))))
    return rewards
