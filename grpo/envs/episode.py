"""The episode loop: every live episode's next policy turn in one engine call, then every
environment step at once (tool calls of different episodes run in parallel, never one at a time).

An episode is one Completion: its ids are policy and environment turns in order, `mask` marks the
policy's, the sampler log-probs are 0 on environment tokens. The whole episode shares one budget,
rollout.max_completion_tokens; an episode that runs out ends with finish_reason "length".
Single-turn generation (no environment) never comes here.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any, Callable

from grpo.envs.base import as_step, merge_info
from grpo.rollout.base import Completion, Engine, SamplingParams


@dataclass
class _Episode:
    prompt_index: int
    prompt_ids: list[int]
    env: Any
    ids: list[int] = field(default_factory=list)
    mask: list[int] = field(default_factory=list)
    logprobs: list[float] = field(default_factory=list)
    turns: list[dict[str, str]] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=lambda: {"tool_calls": 0, "tool_errors": 0, "tool_seconds": 0.0})
    policy_turns: int = 0
    finish: str | None = None

    def add(self, ids: list[int], logprobs: list[float] | None, text: str, role: str) -> None:
        self.ids += ids
        self.mask += [1 if role == "policy" else 0] * len(ids)
        self.logprobs += logprobs if logprobs is not None else [0.0] * len(ids)
        self.turns.append({"role": role, "text": text})

    def completion(self) -> Completion:
        final = getattr(self.env, "final_info", None)  # optional: what the environment adds at the end
        if callable(final):
            try:
                merge_info(self.info, final() or {})
            except Exception as err:  # noqa: BLE001 - reported like a failing step
                self.info["env_error"] = f"{type(err).__name__}: {err}"[:300]
        info = {**self.info, "turns": self.policy_turns, "env_tokens": len(self.mask) - sum(self.mask)}
        return Completion(self.prompt_index, self.prompt_ids, self.ids, "".join(t["text"] for t in self.turns),
                          self.logprobs, self.finish or "stop", extra={"turns": self.turns, "env": info}, mask=self.mask)


@dataclass(frozen=True)
class EpisodeRunner:
    """Runs episodes of the environment `factory` makes (one instance per episode)."""

    factory: Callable[[], Any]
    stop: tuple[str, ...]
    max_turns: int
    workers: int
    tokenize: Callable[[str], list[int]]  # observation text -> ids (no special tokens)
    decode: Callable[[list[int]], str]

    def run(self, engine: Engine, prompts: list[str], rows: list[dict[str, Any]], params: SamplingParams) -> list[Completion]:
        """len(prompts) x params.n episodes, the n of a prompt contiguous (as Engine.generate)."""
        episodes = []
        for index, (prompt, row) in enumerate(zip(prompts, rows)):
            for _ in range(params.n):
                env = self.factory()
                opening = env.reset(row)
                episodes.append(_Episode(index, engine.encode(prompt + (opening or "")), env))
        budget = params.max_tokens
        stops = tuple(dict.fromkeys(tuple(params.stop) + self.stop))
        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            for turn in range(self.max_turns):
                live = [e for e in episodes if e.finish is None]
                if not live:
                    break
                room = max(budget - len(e.ids) for e in live)
                turn_params = replace(params, n=1, max_tokens=room, stop=stops, seed=params.seed + 7919 * turn,
                                      min_tokens=params.min_tokens if turn == 0 else 0)
                outputs = engine.generate_ids([e.prompt_ids + e.ids for e in live], turn_params)
                stepping = [e for e, out in zip(live, outputs) if self._take_turn(e, out, budget, turn)]
                answers = list(pool.map(_step, [e.env for e in stepping], [e.turns[-1]["text"] for e in stepping]))
                for episode, (answer, seconds) in zip(stepping, answers):
                    self._take_answer(episode, answer, seconds, budget)
        finish = getattr(engine, "finish_generation", None)
        if finish is not None:
            finish()
        return [e.completion() for e in episodes]

    def _take_turn(self, episode: _Episode, out: Completion, budget: int, turn: int) -> bool:
        """Append the policy's turn; True when the environment should answer it."""
        room = budget - len(episode.ids)
        ids, logprobs, text = out.completion_ids, out.logprobs, out.text
        if len(ids) > room:
            ids, logprobs, text = ids[:room], logprobs[:room], self.decode(ids[:room])
        episode.add(list(ids), list(logprobs), text, "policy")
        episode.policy_turns += 1
        if out.finish_reason == "length" or len(out.completion_ids) > room:
            episode.finish = "length"
        elif turn + 1 >= self.max_turns:
            episode.finish = "stop"  # the last turn allowed: nothing answers it
        return episode.finish is None

    def _take_answer(self, episode: _Episode, answer: Any, seconds: float, budget: int) -> None:
        if isinstance(answer, BaseException):
            # a broken environment ends its episode, not the run; the error is on the record
            episode.info["env_error"] = f"{type(answer).__name__}: {answer}"[:300]
            episode.finish = "stop"
            return
        step = as_step(answer)
        merge_info(episode.info, step.info)
        episode.info["env_seconds"] = episode.info.get("env_seconds", 0.0) + seconds
        if step.observation:
            ids = self.tokenize(step.observation)
            room = budget - len(episode.ids)
            if len(ids) >= room:
                episode.add(ids[:room], None, self.decode(ids[:room]), "env")
                episode.finish = "length"
                return
            episode.add(ids, None, step.observation, "env")
        if step.done or step.observation is None:
            episode.finish = "stop"


def _step(env: Any, turn: str) -> tuple[Any, float]:
    started = time.monotonic()
    try:
        answer = env.step(turn)
        as_step(answer)
    except Exception as err:  # noqa: BLE001 - reported in the episode's info, the run goes on
        answer = err
    return answer, time.monotonic() - started


def episode_metrics(completions: list[Completion]) -> dict[str, float]:
    """Means over the episodes of a batch: turns, tool calls/errors/seconds, environment tokens,
    the share of episodes that called a tool (tool-use rate)."""
    infos = [c.extra["env"] for c in completions if "env" in c.extra]
    if not infos:
        return {}
    count = len(infos)
    metrics = {f"episode/{key}": sum(float(i.get(key, 0)) for i in infos) / count
               for key in ("turns", "tool_calls", "tool_errors", "tool_seconds", "env_tokens", "env_seconds")}
    metrics["episode/tool_use_rate"] = sum(1 for i in infos if i.get("tool_calls", 0) > 0) / count
    metrics["episode/env_failures"] = sum(1 for i in infos if "env_error" in i) / count
    return metrics


def sample(engine: Engine, runner: EpisodeRunner | None, prompts: list[str], rows: list[dict[str, Any]] | None,
           params: SamplingParams) -> list[Completion]:
    """What an engine's holder (learner or rollout worker) generates: episodes when the recipe has
    an environment, else one turn per sample."""
    if runner is None:
        return engine.generate(prompts, params)
    if rows is None or len(rows) != len(prompts):
        raise ValueError("multi-turn episodes need each prompt's dataset row")
    return runner.run(engine, prompts, rows, params)


def build_runner(env_config: Any, tokenizer: Any) -> EpisodeRunner | None:
    """The recipe's `env:` as a runner, or None for single-turn episodes."""
    if env_config.name is None:
        return None
    from grpo.envs.registry import build_env, stop_strings

    factory = build_env(env_config.name, env_config.kwargs)
    return EpisodeRunner(
        factory=factory, stop=stop_strings(factory), max_turns=env_config.max_turns, workers=env_config.workers,
        tokenize=lambda text: tokenizer(text, add_special_tokens=False)["input_ids"],
        decode=lambda ids: tokenizer.decode(ids, skip_special_tokens=False),
    )
