"""A reward function written for verl (its documented custom_reward_function signature), used
by grpo unchanged: `{name: examples/verl_format/compute_score.py:compute_score}`."""

import re


def compute_score(data_source, solution_str, ground_truth, extra_info=None):
    match = re.search(r"<answer>(.*?)</answer>", solution_str, re.DOTALL)
    answer = match.group(1).strip() if match else None
    correct = answer is not None and answer == str(ground_truth).strip()
    return {"score": 1.0 if correct else 0.0, "formatted": match is not None}
