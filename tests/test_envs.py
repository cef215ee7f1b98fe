"""Episodes: the loop, the loss mask and the python tool's parsing, against hand-built episodes."""

from __future__ import annotations

import math  # noqa: F401 - a module attribute the registry must refuse (test_bad_environment_specs)
import time

import pytest
import torch

from grpo import algorithms
from grpo.batch import build_batch
from grpo.config import RecipeError, recipe_from_dict, check_env
from grpo.envs import EnvError, Step, build_env
from grpo.envs.episode import EpisodeRunner, episode_metrics
from grpo.envs.python_tool import PythonTool
from grpo.rollout.base import Completion, SamplingParams


class ScriptedEngine:
    """Answers each generate_ids call with the next scripted turn per row (ids are char codes)."""

    def __init__(self, turns_by_row: dict[int, list[tuple[str, str]]]):
        self.turns = {row: list(turns) for row, turns in turns_by_row.items()}
        self.calls: list[tuple[list[list[int]], SamplingParams]] = []
        self.prompt_of: dict[tuple[int, ...], int] = {}

    def encode(self, prompt: str) -> list[int]:
        return [ord(c) for c in prompt]

    def generate_ids(self, prompt_ids, params):
        self.calls.append(([list(p) for p in prompt_ids], params))
        out = []
        for index, ids in enumerate(prompt_ids):
            row = next(r for prefix, r in self.prompt_of.items() if list(ids[: len(prefix)]) == list(prefix))
            text, reason = self.turns[row].pop(0)
            tokens = [ord(c) for c in text][: params.max_tokens]
            if len(tokens) < len(text):
                reason, text = "length", text[: params.max_tokens]
            out.append(Completion(index, list(ids), tokens, text, [-0.5] * len(tokens), reason))
        return out


class Echo:
    """Answers a turn ending in '?' with '=<n>!' and ends the episode on any other turn."""

    stop = ("?",)

    def reset(self, row):
        return None

    def step(self, turn):
        if not turn.endswith("?"):
            return None
        return Step(f"={len(turn)}!", info={"tool_calls": 1})


def runner(max_turns=4, factory=Echo, workers=4):
    return EpisodeRunner(factory, tuple(getattr(factory(), "stop", ())), max_turns, workers,
                         tokenize=lambda text: [ord(c) for c in text], decode=lambda ids: "".join(map(chr, ids)))


def scripted(turns, prompt="P:"):
    engine = ScriptedEngine({0: turns})
    engine.prompt_of[tuple(ord(c) for c in prompt)] = 0
    return engine


def test_two_turn_episode_mask_logprobs_and_text():
    engine = scripted([("ab?", "stop"), ("cd", "stop")])
    [episode] = runner().run(engine, ["P:"], [{}], SamplingParams(n=1, max_tokens=20, stop=("</a>",)))
    # policy "ab?" (3), env "=3!" (3), policy "cd" (2)
    assert episode.completion_ids == [ord(c) for c in "ab?=3!cd"]
    assert episode.mask == [1, 1, 1, 0, 0, 0, 1, 1]
    assert episode.logprobs == [-0.5, -0.5, -0.5, 0.0, 0.0, 0.0, -0.5, -0.5]
    assert episode.text == "ab?=3!cd"
    assert episode.finish_reason == "stop"
    assert [t["role"] for t in episode.extra["turns"]] == ["policy", "env", "policy"]
    assert episode.extra["env"]["tool_calls"] == 1 and episode.extra["env"]["turns"] == 2
    # the second turn continued from exactly the first turn's tokens plus the observation's
    second_context = engine.calls[1][0][0]
    assert second_context == [ord(c) for c in "P:ab?=3!"]
    # the environment's stop string was added to the recipe's; the budget shrank by what was used
    assert set(engine.calls[0][1].stop) == {"</a>", "?"}
    assert engine.calls[1][1].max_tokens == 20 - 6


def test_mask_gives_environment_tokens_no_loss_hand_computed():
    engine = scripted([("ab?", "stop"), ("cd", "stop")])
    [episode] = runner().run(engine, ["P:"], [{}], SamplingParams(n=1, max_tokens=20))
    batch = build_batch([episode], pad_id=0)
    assert batch.completion_mask.tolist() == [[1, 1, 1, 0, 0, 0, 1, 1]]
    old = torch.zeros(1, 8)
    # ratios: policy tokens 1.1, 0.9, 1.0, (env 5, 5, 5), 1.5, 1.0; advantage +1; clip 0.2
    ratios = torch.tensor([[1.1, 0.9, 1.0, 5.0, 5.0, 5.0, 1.5, 1.0]])
    loss, stats = algorithms.policy_loss(ratios.log(), old, torch.tensor([1.0]), batch.completion_mask)
    # token-mean over the 5 policy tokens of -min(r A, clip(r) A): -(1.1 + 0.9 + 1.0 + 1.2 + 1.0) / 5
    assert float(loss) == pytest.approx(-5.2 / 5, abs=1e-6)
    assert float(stats["clip_fraction"]) == pytest.approx(1 / 5)
    # per-token: env positions contribute exactly nothing to the gradient
    logp = ratios.log().clone().requires_grad_(True)
    algorithms.policy_loss(logp, old, torch.tensor([1.0]), batch.completion_mask)[0].backward()
    assert logp.grad[0, 3:6].abs().sum() == 0
    assert (logp.grad[0, [0, 1, 2, 7]] != 0).all() and logp.grad[0, 6] == 0  # 1.5 is clipped: no gradient
    # the sampler correction averages over the policy's tokens only (env logprobs are 0, not sampled)
    sampler = torch.tensor([episode.logprobs])
    _, stats = algorithms.policy_loss(torch.full((1, 8), -0.5), torch.full((1, 8), -0.5), torch.tensor([1.0]),
                                      batch.completion_mask, algorithms.LossSettings(sampler_correction="tis"),
                                      sampler_logprobs=sampler)
    assert float(stats["sampler_logprob_gap"]) == pytest.approx(0.0)


def test_budget_cuts_the_episode_and_marks_length():
    engine = scripted([("ab?", "stop"), ("cdefgh", "stop")])
    [episode] = runner().run(engine, ["P:"], [{}], SamplingParams(n=1, max_tokens=8))
    assert len(episode.completion_ids) == 8
    assert episode.finish_reason == "length"
    assert episode.mask == [1, 1, 1, 0, 0, 0, 1, 1]


def test_max_turns_stops_before_the_environment_answers():
    engine = scripted([("a?", "stop"), ("b?", "stop"), ("c?", "stop")])
    [episode] = runner(max_turns=2).run(engine, ["P:"], [{}], SamplingParams(n=1, max_tokens=50))
    assert episode.text == "a?=2!b?"
    assert episode.extra["env"]["turns"] == 2 and episode.extra["env"]["tool_calls"] == 1


def test_a_failing_environment_ends_its_episode_not_the_run():
    class Broken(Echo):
        def step(self, turn):
            raise RuntimeError("tool exploded")

    engine = scripted([("a?", "stop")])
    [episode] = runner(factory=Broken).run(engine, ["P:"], [{}], SamplingParams(n=1, max_tokens=50))
    assert episode.finish_reason == "stop" and "tool exploded" in episode.extra["env"]["env_error"]
    assert episode_metrics([episode])["episode/env_failures"] == 1.0


def test_environment_steps_of_a_batch_run_concurrently():
    class Slow(Echo):
        def step(self, turn):
            time.sleep(0.3)
            return None

    engine = ScriptedEngine({row: [("x?", "stop")] for row in range(8)})
    prompts = [f"P{row}:" for row in range(8)]
    for row, prompt in enumerate(prompts):
        engine.prompt_of[tuple(ord(c) for c in prompt)] = row
    started = time.monotonic()
    runner(factory=Slow, workers=8).run(engine, prompts, [{}] * 8, SamplingParams(n=1, max_tokens=10))
    assert time.monotonic() - started < 8 * 0.3 / 2  # serial would be 2.4 s


def test_episode_metrics_tool_use_rate():
    def episode(calls, errors):
        return Completion(0, [], [1], "x", [0.0], "stop", extra={"env": {"tool_calls": calls, "tool_errors": errors, "turns": calls + 1}})

    metrics = episode_metrics([episode(0, 0), episode(2, 1), episode(1, 0), episode(0, 0)])
    assert metrics["episode/tool_use_rate"] == 0.5
    assert metrics["episode/tool_calls"] == 0.75
    assert metrics["episode/tool_errors"] == 0.25
    assert metrics["episode/turns"] == 1.75
    assert episode_metrics([Completion(0, [], [1], "x", [0.0], "stop")]) == {}


# --------------------------------------------------------------------------- the python tool's parsing


@pytest.mark.parametrize("turn, code", [
    ("I compute <python>print(2*3)</python>", "print(2*3)"),
    ("<python>\nx = 1\nprint(x)\n</python>", "x = 1\nprint(x)"),
    ("first <python>a</python> then <python>b</python>", "b"),
    ("<python>print(1)</python>x", "print(1)"),  # a token may carry a character past the stop
    ("no tool here </answer>", None),
    ("print(1)</python>", None),
])
def test_python_tool_finds_the_code_block(turn, code):
    assert PythonTool().code_of(turn) == code


def test_python_tool_other_tags():
    tool = PythonTool(start="```python\n", end="```\n")
    assert tool.stop == ("```\n",)
    assert tool.code_of("so ```python\nprint(7)\n```\n") == "print(7)"


# --------------------------------------------------------------------------- registry and recipe


def test_build_env_by_name_module_and_file(tmp_path):
    assert build_env("python", {"timeout": 1.0})().timeout == 1.0
    assert build_env("tests.test_envs:Echo", {})().step("a?").observation == "=2!"
    plugin = tmp_path / "my_env.py"
    plugin.write_text("class Game:\n    stop = ('>',)\n    def reset(self, row):\n        return 'start'\n"
                      "    def step(self, turn):\n        return None\n")
    assert build_env(f"{plugin}:Game", {})().reset({}) == "start"


@pytest.mark.parametrize("name, kwargs, message", [
    ("nope", {}, "unknown environment"),
    ("python", {"speed": 3}, "takes no argument(s) ['speed']"),
    ("tests.test_envs:ScriptedEngine", {}, "has no reset or step() method"),
    ("tests.test_envs:math", {}, "not a class or factory"),
])
def test_bad_environment_specs(name, kwargs, message):
    with pytest.raises(EnvError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
        build_env(name, kwargs, check_only=True)


def test_recipe_names_the_env_key_on_error():
    raw = {"name": "t", "model": {"path": "m"}, "data": {"train": {"task": "arithmetic", "num_samples": 4}},
           "rewards": {"verifiers": [{"name": "answer"}]}, "env": {"name": "python", "kwargs": {"timeot": 1}}}
    recipe = recipe_from_dict(raw)
    with pytest.raises(RecipeError, match=r"env.name = 'python': takes no argument\(s\) \['timeot'\]"):
        check_env(recipe)
    assert recipe_from_dict({**raw, "env": {}}).env.name is None  # no env: single-turn, as before


def test_episodes_keep_the_samples_of_a_prompt_contiguous():
    engine = ScriptedEngine({0: [("a", "stop"), ("b", "stop")], 1: [("c", "stop"), ("d", "stop")]})
    engine.prompt_of[(ord("X"),)] = 0
    engine.prompt_of[(ord("Y"),)] = 1
    episodes = runner().run(engine, ["X", "Y"], [{}, {}], SamplingParams(n=2, max_tokens=5))
    assert [e.prompt_index for e in episodes] == [0, 0, 1, 1]
    assert [e.text for e in episodes] == ["a", "b", "c", "d"]



def test_recipe_refuses_bad_env_kwarg_values_at_load():
    raw = {"name": "t", "model": {"path": "m"}, "data": {"train": {"task": "arithmetic", "num_samples": 4}},
           "rewards": {"verifiers": [{"name": "answer"}]}, "env": {"name": "python", "kwargs": {"timeout": 0}}}
    with pytest.raises(RecipeError, match=r"env.kwargs = \{'timeout': 0\}: python refused them: timeout"):
        check_env(recipe_from_dict(raw))


def test_sample_runs_episodes_only_with_an_environment_and_needs_the_rows():
    from grpo.envs.episode import sample

    class OneTurn:
        def generate(self, prompts, params):
            return ["single turn"] * len(prompts)

    assert sample(OneTurn(), None, ["P:"], None, SamplingParams()) == ["single turn"]
    with pytest.raises(ValueError, match="dataset row"):
        sample(scripted([("a", "stop")]), runner(), ["P:"], None, SamplingParams(n=1, max_tokens=5))
    [episode] = sample(scripted([("a", "stop")]), runner(), ["P:"], [{}], SamplingParams(n=1, max_tokens=5))
    assert episode.text == "a"
