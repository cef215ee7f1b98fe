"""Multi-turn episodes: the policy acts, an environment answers, until the environment says done.

    env:                       # in a recipe
      name: python             # or package.module:Class, path/file.py:Class, a grpo.envs entry point
      kwargs: {timeout: 2}
      max_turns: 3

An environment class is instantiated once per episode (its state is that episode's), like TRL's
`environment_factory`: `reset(row)` may return text appended to the prompt, `step(turn)` answers
one policy turn with a `Step` (or a plain string observation, or None for done). Only the
policy's tokens are trained: environment tokens get no loss, no advantage and no importance ratio.
"""

from grpo.envs.base import Environment, Step
from grpo.envs.registry import EnvError, build_env, register_env

__all__ = ["EnvError", "Environment", "Step", "build_env", "register_env"]
