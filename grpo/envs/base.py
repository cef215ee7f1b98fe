"""What an environment is: one object per episode, answering the policy turn by turn."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol


@dataclass
class Step:
    """The environment's answer to one policy turn.

    observation: text appended to the episode as an environment turn (tool output, next state);
    None ends the episode. done: end the episode after appending `observation` (if any).
    info: values verifiers and metrics see; numbers add up over the episode (tool_calls,
    tool_errors, tool_seconds), other values are replaced by the latest.
    """

    observation: str | None = None
    done: bool = False
    info: dict[str, Any] = field(default_factory=dict)


class Environment(Protocol):
    # strings that end a policy turn and hand over to the environment (e.g. "</python>"); the
    # recipe's rollout.stop strings still end the turn too
    stop: ClassVar[tuple[str, ...]]

    def reset(self, row: dict[str, Any]) -> str | None:
        """Start an episode for a dataset row; text returned is appended to the prompt."""

    def step(self, turn: str) -> "Step | str | None":
        """Answer the policy's latest turn (its text, stop string included)."""

    # optional: `final_info() -> dict`, called once when the episode ends, however it ends (the
    # environment's own reward goes here as "reward", for the `env_reward` verifier)


def as_step(answer: Any) -> Step:
    """Accept the three shapes an environment may return: Step, a string observation, None (done)."""
    if isinstance(answer, Step):
        return answer
    if answer is None:
        return Step(None, True)
    if isinstance(answer, str):
        return Step(answer, False)
    raise TypeError(f"an environment's step() returns a Step, a string or None, not {type(answer).__name__}")


def merge_info(total: dict[str, Any], new: dict[str, Any]) -> None:
    for key, value in new.items():
        if isinstance(value, (int, float)) and not isinstance(value, bool) and isinstance(total.get(key), (int, float)):
            total[key] = total[key] + value
        else:
            total[key] = value
