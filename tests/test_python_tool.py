"""The `python` environment: hostile tool calls end as error observations, the episode goes on,
the host is untouched; tool calls of a batch run concurrently."""

from __future__ import annotations

import os
import time

import pytest

from grpo.envs.episode import EpisodeRunner
from grpo.envs.python_tool import PythonTool
from grpo.rollout.base import SamplingParams
from tests.test_envs import ScriptedEngine
from tests.test_sandbox_hostile import Listener


def _runner(**kwargs) -> EpisodeRunner:
    tool = lambda: PythonTool(timeout=1.0, max_output_chars=200, **kwargs)  # noqa: E731
    return EpisodeRunner(tool, tool().stop, max_turns=3, workers=16, tokenize=lambda t: [ord(c) for c in t],
                         decode=lambda ids: "".join(map(chr, ids)))


def _episodes(programs: list[str], after: str = " done </answer>", budget: int = 4000):
    engine = ScriptedEngine({row: [(f"<python>{code}</python>", "stop"), (after, "stop")] for row, code in enumerate(programs)})
    prompts = [f"Q{row}:" for row in range(len(programs))]
    for row, prompt in enumerate(prompts):
        engine.prompt_of[tuple(ord(c) for c in prompt)] = row
    return _runner().run(engine, prompts, [{}] * len(programs), SamplingParams(n=1, max_tokens=budget))


def test_a_tool_call_returns_what_the_code_printed():
    [episode] = _episodes(["print(123 * 456)"])
    assert episode.text == "<python>print(123 * 456)</python><output>\n56088\n</output> done </answer>"
    assert episode.extra["env"]["tool_calls"] == 1 and episode.extra["env"]["tool_errors"] == 0
    assert [t["role"] for t in episode.extra["turns"]] == ["policy", "env", "policy"]


def test_hostile_tool_calls_end_as_error_observations_and_leave_the_host_alone(tmp_path):
    listener = Listener()
    outside = tmp_path / "escaped.txt"
    canary = tmp_path / "canary.txt"
    canary.write_text("intact")
    hostile = {
        "exit": "import sys\nsys.exit(7)",
        "os._exit": "import os\nos._exit(1)",
        "fork bomb": "import os\nwhile True:\n    os.fork()",
        "network": f"import socket\nsocket.create_connection(('127.0.0.1', {listener.port}), timeout=0.5)",
        "write outside": f"open({str(outside)!r}, 'w').write('x')",
        "overwrite canary": f"open({str(canary)!r}, 'w').write('owned')",
        "huge output": "print('y' * 50_000_000)",
        "hang": "while True:\n    pass",
        "kill parent": "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\nprint('tried')",
        "read host env": "import os\nprint(sorted(k for k in os.environ if 'SECRET' in k))",
    }
    os.environ["GRPO_TEST_SECRET"] = "do-not-leak"
    try:
        episodes = _episodes(list(hostile.values()))
    finally:
        del os.environ["GRPO_TEST_SECRET"]
    by_name = dict(zip(hostile, episodes))
    for name, episode in by_name.items():
        # every episode got its observation and then its final policy turn: none was lost
        assert [t["role"] for t in episode.extra["turns"]] == ["policy", "env", "policy"], name
        observation = episode.extra["turns"][1]["text"]
        assert observation.startswith("<output>\n") and observation.endswith("\n</output>"), name
        assert len(observation) <= 200 + 40, name
    errors = {name: e.extra["env"]["tool_errors"] for name, e in by_name.items()}
    for name in ("exit", "os._exit", "network", "write outside", "overwrite canary", "hang"):
        assert errors[name] == 1, (name, by_name[name].extra["turns"][1]["text"])
    assert "exit status 7" in by_name["exit"].extra["turns"][1]["text"]
    assert "timed out" in by_name["hang"].extra["turns"][1]["text"]
    assert "[output truncated]" in by_name["huge output"].extra["turns"][1]["text"]
    assert "do-not-leak" not in by_name["read host env"].text and "GRPO_TEST_SECRET" not in by_name["read host env"].text
    # the host: no contact, no file outside, the canary unchanged, this process alive
    assert listener.contacts == 0
    assert not outside.exists()
    assert canary.read_text() == "intact"
    # and the tool still works afterwards
    assert "56088" in _episodes(["print(123 * 456)"])[0].text


def test_tool_calls_of_a_batch_run_concurrently():
    """64 episodes whose tool call sleeps 0.5 s: the serial sum is 32 s."""
    _episodes(["print(1)"])  # the shared pool's servers start once per process
    started = time.monotonic()
    episodes = _episodes(["import time\ntime.sleep(0.5)\nprint('slept')"] * 64)
    wall = time.monotonic() - started
    serial = sum(e.extra["env"]["tool_seconds"] for e in episodes)
    print(f"\n64 tool calls of 0.5 s: wall {wall:.2f} s, serial sum {serial:.2f} s, {serial / wall:.1f}x")
    assert all("slept" in e.text for e in episodes)
    assert serial >= 64 * 0.5
    assert wall < serial / 6  # 16 workers: ~4 rounds of 0.5 s


@pytest.mark.parametrize("kwargs", [{"timeout": 0}, {"start": ""}])
def test_bad_tool_settings(kwargs):
    with pytest.raises(ValueError):
        PythonTool(**kwargs)
