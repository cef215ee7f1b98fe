"""Built-in verifiers; importing this package registers them by name."""

from rewards.builtin import answer, code, countdown, format, language, length, math, reward_model  # noqa: F401
