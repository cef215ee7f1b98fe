"""The benchmark's reward: a TRL-style function both trainers call unchanged. It only needs to
vary across a group so advantages are non-zero; its cost is part of each step for both."""


def token_reward(completions, **kwargs):
    return [float(sum(word.endswith("7") for word in text.split()) % 5) for text in completions]
