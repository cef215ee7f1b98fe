"""Built-in verifiers; importing this package registers them by name."""

from rewards.builtin import answer, countdown, format  # noqa: F401
