"""Ray plumbing: start or join a cluster and place the learner, rollout and reward actors.

Nothing here computes anything; it only decides where each piece runs.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any

from grpo.config import Recipe


@dataclass
class Actors:
    learner: Any
    rollouts: list[Any]  # empty when colocated: the learner generates
    rewards: list[Any]
    sync_plan: list[Any] | None = None  # separate vLLM workers: the NCCL bucket plan, set on first sync


def init_ray(recipe: Recipe) -> bool:
    """Start a local cluster (or join `cluster.address`); True when this call started Ray."""
    import ray

    if ray.is_initialized():
        return False
    env = {"PYTHONPATH": os.pathsep.join(filter(None, [os.getcwd(), os.environ.get("PYTHONPATH")])),
           "TOKENIZERS_PARALLELISM": "false"}
    kwargs: dict[str, Any] = dict(
        include_dashboard=False, logging_level=logging.WARNING, log_to_driver=True,
        runtime_env={"env_vars": env},
    )
    if recipe.cluster.address:
        ray.init(address=recipe.cluster.address, **kwargs)
    else:
        ray.init(num_cpus=recipe.cluster.num_cpus or os.cpu_count(), **kwargs)
    return True


def start_actors(recipe: Recipe) -> Actors:
    import ray

    from grpo.learner import Learner
    from grpo.rollout.actor import RolloutWorker
    from rewards.worker import RewardWorker

    cores = recipe.trainer.threads or os.cpu_count() or 1
    gpus = _gpu_share(recipe)
    learner = ray.remote(Learner).options(num_cpus=0, num_gpus=gpus["learner"]).remote(recipe, cores)
    rollouts = []
    if not recipe.rollout.colocate:
        rollouts = [
            ray.remote(RolloutWorker).options(num_cpus=0, num_gpus=gpus["rollout"]).remote(recipe, cores)
            for _ in range(recipe.rollout.num_workers)
        ]
    specs = [spec.model_dump() for spec in recipe.rewards.verifiers]
    rewards = [ray.remote(RewardWorker).options(num_cpus=0).remote(specs) for _ in range(recipe.rewards.num_workers)]
    return Actors(learner, rollouts, rewards)


def _gpu_share(recipe: Recipe) -> dict[str, float]:
    """One GPU for the learner; rollout workers get their own, or share it when only one exists."""
    import ray

    available = ray.cluster_resources().get("GPU", 0) if recipe.trainer.device != "cpu" else 0
    if not available:
        return {"learner": 0, "rollout": 0}
    if recipe.rollout.colocate or available >= 1 + recipe.rollout.num_workers:
        return {"learner": 1, "rollout": 1}
    if recipe.rollout.engine == "vllm":
        from grpo.config import RecipeError

        raise RecipeError(
            f"rollout.colocate = false with rollout.engine = vllm needs a GPU per rollout worker besides the "
            f"learner's ({1 + recipe.rollout.num_workers}), but Ray sees {available:g}; set rollout.colocate=true "
            "(vLLM sleeps while the trainer steps) or lower rollout.num_workers"
        )
    return {"learner": 0.5, "rollout": 0.5 / recipe.rollout.num_workers}


def shutdown(started: bool) -> None:
    import ray

    if started and ray.is_initialized():
        ray.shutdown()
