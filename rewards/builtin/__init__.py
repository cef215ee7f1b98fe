"""Built-in verifiers; importing this package registers them by name."""

from rewards.builtin import answer, code, countdown, env_reward, format, language, length, math, reasoning_gym, reward_model  # noqa: F401
