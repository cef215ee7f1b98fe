"""The benchmark's reward: a TRL-style function both trainers call unchanged. It only needs to
vary across a group so advantages are non-zero; its cost is part of each step for both."""


def token_reward(completions, **kwargs):
    return [float(sum(word.endswith("7") for word in text.split()) % 5) for text in completions]


def length_recording_reward(completions, **kwargs):
    """Workload R's reward: appends each completion's token count (the tokenizer is word-level, so
    words are tokens) to $GRPO_BENCH_LENGTHS, so every system's realised lengths are read the same
    way; the reward itself only has to vary within a group."""
    import os

    texts = [c if isinstance(c, str) else c[0]["content"] for c in completions]
    path = os.environ.get("GRPO_BENCH_LENGTHS")
    if path:
        with open(path, "a") as handle:
            handle.write("".join(f"{len(text.split())}\n" for text in texts))
    return [float(sum(word.endswith("7") for word in text.split()) % 5) for text in texts]


def verl_length_score(data_source, solution_str, ground_truth, extra_info=None, **kwargs):
    """The same reward in verl's custom_reward_function signature (benchmarks/verl_row.py)."""
    return length_recording_reward([solution_str])[0]
