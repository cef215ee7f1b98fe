"""The `functions` environment: TRL-style tools, unchanged. Plain Python functions (TRL's `tools=`)
and/or the public methods of a TRL environment class (TRL's `environment_factory`: `reset(**row)`
may return text appended to the prompt, and each public method is a tool).

The policy calls a tool the way Qwen/Hermes chat templates (and TRL's response parser) write it:
`<tool_call>{"name": "multiply", "arguments": {"a": 3, "b": 4}}</tool_call>`; the result comes back
as `<tool_response>...</tool_response>`. These tools are the user's own trusted code and run in
this process (untrusted model-written code belongs in the `python` environment's sandbox). A
call that fails (bad JSON, unknown tool, wrong arguments, an exception) comes back as an error
observation; the episode goes on.
"""

from __future__ import annotations

import inspect
import json
import time
from typing import Any, Callable

from grpo.envs.base import Step
from grpo.envs.registry import EnvError, register_env
from rewards.plugins import load_attribute


@register_env("functions")
class Functions:
    """kwargs: `tools` (a list of `module:function` / `file.py:function`), `environment` (a TRL
    environment class, one instance per episode), the tags, and the characters of result kept."""

    def __init__(self, tools: list[str] | None = None, environment: str | None = None, start: str = "<tool_call>",
                 end: str = "</tool_call>", response: str = "<tool_response>\n{result}\n</tool_response>",
                 max_output_chars: int = 1000):
        if not tools and not environment:
            raise ValueError("the functions environment needs `tools` (a list of functions) or `environment` (a class)")
        if "{result}" not in response:
            raise ValueError("`response` must contain {result}")
        self.start, self.end, self.response, self.max_output_chars = start, end, response, max_output_chars
        self.stop = (end,)
        self.tools: dict[str, Callable[..., Any]] = {}
        for spec in tools or []:
            function = _load(spec)
            self.tools[function.__name__] = function
        self.environment = None
        if environment is not None:
            cls = _load(environment)
            self.environment = cls()
            if not callable(getattr(self.environment, "reset", None)):
                raise ValueError(f"{environment}: a TRL environment needs a reset() method")
            for name, _ in inspect.getmembers(type(self.environment), predicate=inspect.isfunction):
                if name not in ("reset", "get_reward") and not name.startswith("_"):
                    self.tools[name] = getattr(self.environment, name)

    def reset(self, row: dict[str, Any]) -> str | None:
        if self.environment is None:
            return None
        opening = self.environment.reset(**row)
        return opening if isinstance(opening, str) else None

    def step(self, turn: str) -> Step:
        closing = turn.rfind(self.end)
        opening = turn.rfind(self.start, 0, closing) if closing >= 0 else -1
        if opening < 0:
            return Step(None, True)
        started = time.monotonic()
        error = False
        try:
            call = json.loads(turn[opening + len(self.start):closing])
            name, arguments = call["name"], call.get("arguments", call.get("parameters", {}))
            if name not in self.tools:
                raise LookupError(f"unknown tool {name!r}; tools: {sorted(self.tools)}")
            result = self.tools[name](**arguments)
            text = result if isinstance(result, str) else json.dumps(result, default=str)
        except Exception as err:  # noqa: BLE001 - the policy sees its mistake, the run goes on
            text, error = f"error: {type(err).__name__}: {err}", True
        text = text[: self.max_output_chars]
        info = {"tool_calls": 1, "tool_errors": int(error), "tool_seconds": time.monotonic() - started}
        return Step(self.response.format(result=text), False, info)

    def final_info(self) -> dict[str, Any]:
        """At the episode's end: a TRL environment that owns its reward (`get_reward()`) reports it,
        for the `env_reward` verifier."""
        get_reward = getattr(self.environment, "get_reward", None)
        return {"reward": float(get_reward())} if callable(get_reward) else {}


def _load(spec: str) -> Any:
    try:
        return load_attribute(spec)
    except (ImportError, FileNotFoundError, AttributeError) as err:
        raise EnvError(f"{spec}: {err}") from None
