"""Rewards a random-init policy can learn in a few GRPO steps (for architecture tests)."""


def sevens(sample):
    """The share of the completion's characters that are the digit 7."""
    text = sample.completion
    return text.count("7") / max(1, len(text))


def digits(sample):
    """The share of the completion's non-space characters that are digits."""
    text = "".join(sample.completion.split())
    return sum(c.isdigit() for c in text) / max(1, len(text))
