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
    engine: str = "transformers"  # the concrete engine (`auto` resolved where the run happens)
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


def start_actors(recipe: Recipe, *, with_learner: bool = True) -> Actors:
    """The learner (with its colocated engine, or separate rollout workers) and the reward workers.
    without a learner (a generate stage: sampling only) the rollout workers are the engines."""
    import ray

    from grpo.learner import Learner
    from grpo.rollout.actor import RolloutWorker
    from rewards.worker import RewardWorker

    from grpo.rollout.factory import with_concrete_engine

    recipe = with_concrete_engine(recipe, _visible_gpus(recipe))
    cores = recipe.trainer.threads or os.cpu_count() or 1
    gpus = _gpu_share(recipe) if with_learner else _sampling_gpu_share(recipe)
    learner = None
    if with_learner:
        learner = ray.remote(Learner).options(num_cpus=0, num_gpus=gpus["learner"]).remote(recipe, cores)
    rollouts = []
    if not recipe.rollout.colocate or not with_learner:
        workers = recipe.rollout.num_workers if not recipe.rollout.colocate else 1
        rollouts = [
            ray.remote(RolloutWorker).options(num_cpus=0, num_gpus=gpus["rollout"]).remote(recipe, cores)
            for _ in range(workers)
        ]
    specs = [spec.model_dump() for spec in recipe.rewards.verifiers]
    reward_gpus = recipe.rewards.gpus_per_worker if _visible_gpus(recipe) else 0
    rewards = [ray.remote(RewardWorker).options(num_cpus=0, num_gpus=reward_gpus).remote(specs)
               for _ in range(recipe.rewards.num_workers)]
    return Actors(learner, rollouts, rewards, engine=recipe.rollout.engine)


def _gpu_share(recipe: Recipe) -> dict[str, float]:
    """One GPU for the learner; rollout workers get their own, or share it when only one exists."""

    available = _visible_gpus(recipe)
    if not available:
        return {"learner": 0, "rollout": 0}
    reward_share = recipe.rewards.gpus_per_worker * recipe.rewards.num_workers
    if recipe.rollout.colocate and available < 1 + reward_share:
        # one GPU for everything: the reward model takes its share from the learner's
        return {"learner": max(0.05, 1.0 - reward_share), "rollout": 0}
    if recipe.rollout.colocate or available >= 1 + recipe.rollout.num_workers + reward_share:
        return {"learner": 1, "rollout": 1}
    if recipe.rollout.engine == "vllm":
        from grpo.config import RecipeError

        raise RecipeError(
            f"rollout.colocate = false with rollout.engine = vllm needs a GPU per rollout worker besides the "
            f"learner's ({1 + recipe.rollout.num_workers}), but Ray sees {available:g}; set rollout.colocate=true "
            "(vLLM sleeps while the trainer steps) or lower rollout.num_workers"
        )
    return {"learner": 0.5, "rollout": 0.5 / recipe.rollout.num_workers}


def _sampling_gpu_share(recipe: Recipe) -> dict[str, float]:
    """Sampling only: each rollout worker gets a GPU of its own when there are enough, else a share."""
    available = _visible_gpus(recipe)
    workers = recipe.rollout.num_workers if not recipe.rollout.colocate else 1
    return {"learner": 0, "rollout": min(1.0, available / workers) if available else 0}


def _visible_gpus(recipe: Recipe) -> float:
    import ray

    return ray.cluster_resources().get("GPU", 0) if recipe.trainer.device != "cpu" else 0


def shutdown(started: bool) -> None:
    import ray

    if started and ray.is_initialized():
        ray.shutdown()
