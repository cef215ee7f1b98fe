"""The `functions` environment: TRL-style tool functions and TRL environment classes, unchanged."""

from __future__ import annotations

import pytest

from grpo.envs import build_env
from grpo.envs.episode import EpisodeRunner
from grpo.rollout.base import SamplingParams
from rewards.base import Sample
from rewards.builtin.env_reward import env_reward
from tests.test_envs import ScriptedEngine

TOOLS = '''
def multiply(a: int, b: int) -> int:
    """Multiply two integers.

    Args:
        a: first factor
        b: second factor
    """
    return a * b
'''

ENVIRONMENT = '''
class Counter:
    """A TRL environment (environment_factory): reset(**row), public methods are tools, get_reward."""

    def reset(self, target, **kwargs):
        self.target, self.count = target, 0
        return f" Reach {target}."

    def increment(self, by: int) -> str:
        self.count += by
        return f"count={self.count}"

    def get_reward(self) -> float:
        return float(self.count == self.target)
'''


def _run(factory, turns, row=None):
    engine = ScriptedEngine({0: turns})
    opening = factory().reset(row or {})
    engine.prompt_of[tuple(ord(c) for c in "Q:" + (opening or ""))] = 0
    runner = EpisodeRunner(factory, factory().stop, max_turns=4, workers=2, tokenize=lambda t: [ord(c) for c in t],
                           decode=lambda ids: "".join(map(chr, ids)))
    return runner.run(engine, ["Q:"], [row or {}], SamplingParams(n=1, max_tokens=500))[0]


def test_a_trl_tool_function_is_called_from_a_tool_call(tmp_path):
    (tmp_path / "tools.py").write_text(TOOLS)
    factory = build_env("functions", {"tools": [f"{tmp_path}/tools.py:multiply"]})
    episode = _run(factory, [('<tool_call>{"name": "multiply", "arguments": {"a": 12, "b": 34}}</tool_call>', "stop"),
                             (" 408", "stop")])
    assert episode.extra["turns"][1]["text"] == "<tool_response>\n408\n</tool_response>"
    assert episode.extra["env"]["tool_calls"] == 1 and episode.extra["env"]["tool_errors"] == 0


@pytest.mark.parametrize("call, error", [
    ('{"name": "divide", "arguments": {}}', "unknown tool 'divide'"),
    ('{"name": "multiply", "arguments": {"a": 1}}', "TypeError"),
    ('not json', "JSONDecodeError"),
])
def test_bad_tool_calls_are_error_observations(tmp_path, call, error):
    (tmp_path / "tools.py").write_text(TOOLS)
    factory = build_env("functions", {"tools": [f"{tmp_path}/tools.py:multiply"]})
    episode = _run(factory, [(f"<tool_call>{call}</tool_call>", "stop"), (" giving up", "stop")])
    assert error in episode.extra["turns"][1]["text"]
    assert episode.extra["env"]["tool_errors"] == 1
    assert episode.extra["turns"][2]["text"] == " giving up"


def test_a_trl_environment_class_resets_from_the_row_and_owns_its_reward(tmp_path):
    (tmp_path / "counter.py").write_text(ENVIRONMENT)
    factory = build_env("functions", {"environment": f"{tmp_path}/counter.py:Counter"})
    call = '<tool_call>{"name": "increment", "arguments": {"by": 2}}</tool_call>'
    episode = _run(factory, [(call, "stop"), (call, "stop"), (" done", "stop")], row={"target": 4})
    assert episode.prompt_ids == [ord(c) for c in "Q: Reach 4."]
    assert episode.extra["turns"][3]["text"] == "<tool_response>\ncount=4\n</tool_response>"
    assert episode.extra["env"]["reward"] == 1.0
    # the env_reward verifier reads it; a sample without one is "not applicable"
    assert env_reward(Sample("p", "c", env=episode.extra["env"])).value == 1.0
    assert env_reward(Sample("p", "c")).value is None


def test_functions_needs_tools_or_an_environment():
    with pytest.raises(ValueError, match="needs `tools`"):
        build_env("functions", {})()
