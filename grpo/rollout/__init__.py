"""Rollout: engines that sample G completions per prompt, and the Ray actor that hosts one."""

from grpo.rollout.base import ENGINES, Completion, Engine, SamplingParams, register_engine

__all__ = ["ENGINES", "Completion", "Engine", "SamplingParams", "register_engine"]
