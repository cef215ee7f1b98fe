"""Ray plumbing: start or join a cluster and place the learner, rollout and reward actors.

Nothing here computes anything; it only decides where each piece runs.
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass
from typing import Any

from grpo.config import Recipe, RecipeError


class LearnerFailed(RecipeError):
    """A learner rank died or failed; the group is stopped so no rank waits forever in a collective."""


class LearnerGroup:
    """The learner ranks seen from the driver. Collective methods (train_step, save, ...) go to every
    rank with the same arguments; rank 0's answer is the group's (the others reduce into it), so
    the driver talks to one learner whatever the world size. A failing rank stops the whole group
    at once instead of leaving the others blocked in a collective."""

    def __init__(self, handles: list[Any]):
        self.handles = handles

    def refs(self, method: str, *args: Any) -> list[Any]:
        import ray

        shared = [ray.put(arg) if len(self.handles) > 1 and not isinstance(arg, (int, float, str, type(None))) else arg
                  for arg in args]  # a batch goes into the object store once, not once per rank
        return [getattr(handle, method).remote(*shared) for handle in self.handles]

    def call(self, method: str, *args: Any) -> Any:
        return self.wait(self.refs(method, *args))[0]

    def wait(self, refs: list[Any]) -> list[Any]:
        import ray

        pending = list(refs)
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            try:
                ray.get(done[0])
            except ray.exceptions.RayActorError as err:
                rank = refs.index(done[0])
                self.stop()
                raise LearnerFailed(
                    f"learner rank {rank} died ({_first_line(err)}); the run stops here: `grpo train ... --resume` "
                    "continues from the last checkpoint"
                ) from None
            except Exception:
                if len(self.handles) > 1:
                    self.stop()  # the other ranks may be waiting for this one in a collective
                raise
        return ray.get(refs)

    def stop(self) -> None:
        import ray

        for handle in self.handles:
            ray.kill(handle, no_restart=True)


@dataclass
class Actors:
    learner: Any  # rank 0: generation (colocated), tokenizer queries
    rollouts: list[Any]  # empty when colocated: the learner generates
    rewards: list[Any]
    engine: str = "transformers"  # the concrete engine (`auto` resolved where the run happens)
    sync_plan: list[Any] | None = None  # separate vLLM workers: the NCCL bucket plan, set on first sync
    shares_gpu: bool | None = None  # a rollout worker sits on the learner's GPU (asked on first sync)
    learners: LearnerGroup | None = None  # every rank: the collective calls
    weights_version: int = 0  # syncs sent to the rollout workers (0: the checkpoint they loaded)
    episodes: bool = False  # an `env:` runs multi-turn episodes: generation needs each prompt's dataset row


def init_ray(recipe: Recipe) -> bool:
    """Start a local cluster, or join `cluster.address`, or else the cluster in RAY_ADDRESS (what
    `ray job submit` sets for its entrypoint, and how a test suite lends one warm cluster to many
    CLI runs: joining takes ~0.1 s where starting one takes ~3 s). True when this call connected."""
    import ray

    if ray.is_initialized():
        return False
    address = recipe.cluster.address or os.environ.get("RAY_ADDRESS")
    kwargs: dict[str, Any] = dict(include_dashboard=False, logging_level=logging.WARNING, log_to_driver=True)
    if address:
        _check_reachable(address, "cluster.address" if recipe.cluster.address else "RAY_ADDRESS")
        env = joined_worker_env(os.environ.get("PYTHONPATH"), os.getcwd())
        ray.init(address=address, **kwargs, **({"runtime_env": {"env_vars": env}} if env else {}))
    else:
        ray.init(num_cpus=recipe.cluster.num_cpus or os.cpu_count(), **kwargs)
    return True


def joined_worker_env(pythonpath: str | None, cwd: str) -> dict[str, str] | None:
    """What a joined cluster's workers must be told: the driver's PYTHONPATH, where it names more
    than its working folder (Ray puts that on every worker's sys.path itself). A cluster this run
    starts inherits the driver's whole environment, and anything else is set in the actors, since
    any runtime_env costs each actor ~0.5-1 s more to start (its worker is set up by a separate
    process first; benchmarks/actor_start.py): ~2 s of a 1-step CPU run's ~17 s."""
    extra = [path for path in (pythonpath or "").split(os.pathsep) if path and os.path.abspath(path) != cwd]
    return {"PYTHONPATH": os.pathsep.join([cwd, *extra])} if extra else None


def _check_reachable(address: str, source: str) -> None:
    """A `host:port` that nothing answers on (a cluster since stopped, a stale RAY_ADDRESS) makes
    ray.init wait for many minutes without a word: say so in a second instead. `auto` and
    `ray://` addresses are left to Ray, which resolves and reports those itself."""
    import socket

    host, _, port = address.rpartition(":")
    if "://" in address or not host or not port.isdigit():
        return
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=5).close()  # [::1]:6379 too
    except OSError as err:
        raise RecipeError(
            f"{source} = {address}: no Ray cluster answers there ({err.strerror or err}); start one "
            f"(`ray start --head`), fix the address, or unset it to start a local cluster") from None


def actor_threads(recipe: Recipe, world: int, cpus: int) -> int:
    """torch threads per actor. Synchronous rollout workers and learners take turns, so each may
    use every core its rank has; with asynchronous rollouts (rollout.max_staleness > 0) the workers
    generate while the learners train, and two processes each running all cores' threads on the
    same cores thrash (CPU quickstart, 2 cores: 6.9 s a step against 3.2 s with one thread each)."""
    overlapping = recipe.rollout.max_staleness > 0 and not recipe.rollout.colocate
    processes = world + (recipe.rollout.num_workers if overlapping else 0)
    return max(1, cpus // processes)


def start_actors(recipe: Recipe, *, with_learner: bool = True) -> Actors:
    """The learner group (rank 0 with its colocated engine, or separate rollout workers) and the
    reward workers. Without a learner (a generate stage: sampling only) the rollout workers are
    the engines. Rollout and reward workers are restarted by Ray if their process dies."""
    import ray

    from grpo.rollout.actor import RolloutWorker
    from grpo.rollout.factory import with_concrete_engine
    from rewards.worker import RewardWorker

    recipe = with_concrete_engine(recipe, _visible_gpus(recipe))
    world = recipe.trainer.world_size if with_learner else 1
    cores = recipe.trainer.threads or actor_threads(recipe, world, os.cpu_count() or 1)
    gpus = _gpu_share(recipe) if with_learner else _sampling_gpu_share(recipe)
    group = start_learners(recipe, gpus["learner"], cores) if with_learner else None
    rollouts = []
    if not recipe.rollout.colocate or not with_learner:
        workers = recipe.rollout.num_workers if not recipe.rollout.colocate else 1
        rollouts = [
            ray.remote(RolloutWorker).options(num_cpus=0, num_gpus=gpus["rollout"], max_restarts=3,
                                              resources=recipe.cluster.rollout_resources or None).remote(recipe, cores)
            for _ in range(workers)
        ]
    specs = [spec.model_dump() for spec in recipe.rewards.verifiers]
    reward_gpus = recipe.rewards.gpus_per_worker if _visible_gpus(recipe) else 0
    # scoring is idempotent: a reward worker that dies is restarted and its call retried
    rewards = [ray.remote(RewardWorker).options(num_cpus=0, num_gpus=reward_gpus, max_restarts=3,
                                                max_task_retries=3).remote(specs)
               for _ in range(recipe.rewards.num_workers)]
    actors = Actors(group.handles[0] if group else None, rollouts, rewards, engine=recipe.rollout.engine, learners=group,
                    episodes=recipe.env.name is not None)
    if len(ray.nodes()) > 1:
        print(placement(actors), flush=True)
    return actors


def placement(actors: Actors) -> str:
    """Which node each learner rank and rollout worker runs on (Ray node ids, shortened)."""
    import ray

    parts = []
    if actors.learners is not None:
        nodes = ray.get([h.node_id.remote() for h in actors.learners.handles])
        parts += [f"learner rank {rank} on node {node[:12]}" for rank, node in enumerate(nodes)]
    nodes = ray.get([w.node_id.remote() for w in actors.rollouts])
    parts += [f"rollout worker {index} on node {node[:12]}" for index, node in enumerate(nodes)]
    return "placement: " + ", ".join(parts)


def start_learners(recipe: Recipe, gpus: float, cores: int) -> LearnerGroup:
    """`trainer.world_size` learner actors placed by one placement group (one bundle per rank, PACK:
    on as few nodes as fit), then joined into a process group at rank 0's address."""
    import random

    import ray
    from ray.util.placement_group import placement_group
    from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

    from grpo.learner import Learner

    world = recipe.trainer.world_size
    custom = recipe.cluster.learner_resources
    if world == 1:
        handle = ray.remote(Learner).options(num_cpus=0, num_gpus=gpus, resources=custom or None).remote(recipe, cores)
        return LearnerGroup([handle])
    bundle = {"CPU": 0.01, **({"GPU": gpus} if gpus else {}), **custom}
    group = placement_group([dict(bundle) for _ in range(world)], strategy="PACK")
    try:
        ray.get(group.ready(), timeout=120)
    except Exception:
        raise RecipeError(
            f"trainer.world_size = {world}: Ray cannot place {world} learners of {bundle} each (cluster: "
            f"{ray.cluster_resources()}); lower trainer.world_size or add nodes with those resources"
        ) from None
    handles = [
        ray.remote(Learner).options(num_cpus=0.01, num_gpus=gpus, resources=custom or None,
                                    scheduling_strategy=PlacementGroupSchedulingStrategy(group, placement_group_bundle_index=rank)
                                    ).remote(recipe, cores, rank, world)
        for rank in range(world)
    ]
    address = ray.get(handles[0].node_address.remote())
    port = random.Random().randrange(20000, 40000)  # on rank 0's node, which the driver cannot probe
    learners = LearnerGroup(handles)
    learners.wait([handle.connect.remote(address, port) for handle in handles])
    return learners


def _first_line(err: BaseException) -> str:
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    return lines[0][:200] if lines else type(err).__name__


def _gpu_share(recipe: Recipe) -> dict[str, float]:
    """One GPU for the learner; rollout workers get their own, or share it when only one exists."""

    available = _visible_gpus(recipe)
    if not available:
        return {"learner": 0, "rollout": 0}
    reward_share = recipe.rewards.gpus_per_worker * recipe.rewards.num_workers
    world = recipe.trainer.world_size
    if world > 1:
        if available < world:
            raise RecipeError(f"trainer.world_size = {world} needs a GPU per learner rank, but Ray sees {available:g}")
        if available >= world + recipe.rollout.num_workers:
            return {"learner": 1.0, "rollout": 1.0}
        if recipe.rollout.engine == "vllm":
            raise RecipeError(f"trainer.world_size = {world} learners and {recipe.rollout.num_workers} vLLM workers need "
                              f"{world + recipe.rollout.num_workers} GPUs, but Ray sees {available:g}")
        # the transformers engine shares the learners' GPUs: the workers split the free quarter of
        # each. A worker must fit in one GPU's quarter (Ray places a fraction on a single GPU),
        # so a GPU hosting k workers gives each a k-th of it.
        per_gpu = math.ceil(recipe.rollout.num_workers / world)
        return {"learner": 0.75, "rollout": 0.25 / per_gpu}
    if recipe.rollout.gpus_per_worker is not None:  # separate workers beside one learner (the recipe checks)
        return _fractional_workers(available, recipe.rollout.gpus_per_worker, recipe.rollout.num_workers, reward_share)
    if recipe.rollout.colocate and available < 1 + reward_share:
        # one GPU for everything: the reward model takes its share from the learner's
        return {"learner": max(0.05, 1.0 - reward_share), "rollout": 0}
    if recipe.rollout.colocate or available >= 1 + recipe.rollout.num_workers + reward_share:
        return {"learner": 1, "rollout": 1}
    if recipe.rollout.engine == "vllm":
        raise RecipeError(
            f"rollout.colocate = false with rollout.engine = vllm needs a GPU per rollout worker besides the "
            f"learner's ({1 + recipe.rollout.num_workers}), but Ray sees {available:g}; set rollout.colocate=true "
            "(vLLM sleeps while the trainer steps), lower rollout.num_workers, or share the learner's GPU with "
            "rollout.gpus_per_worker=0.5 and rollout.vllm.gpu_memory_utilization<=0.5"
        )
    return {"learner": 0.5, "rollout": 0.5 / recipe.rollout.num_workers}


def _fractional_workers(available: float, share: float, workers: int, reward_share: float) -> dict[str, float]:
    """Rollout workers of `share` a GPU each: on the GPUs the learner leaves when they fit there (Ray
    puts a fraction on one GPU, so a spare GPU holds floor(1 / share) of them), else beside the
    learner on its GPU, which then keeps what they leave."""
    spare = math.floor(available - 1 - reward_share + 1e-9)
    if spare * math.floor(1 / share + 1e-9) >= workers:
        return {"learner": 1.0, "rollout": share}
    learner = round(1.0 - workers * share - reward_share, 6)
    if learner < 0.05:
        raise RecipeError(
            f"rollout.gpus_per_worker = {share} for {workers} rollout worker(s) leaves the learner "
            f"{max(learner, 0):g} of its GPU (Ray sees {available:g}); lower rollout.gpus_per_worker or "
            "rollout.num_workers, or add GPUs")
    return {"learner": learner, "rollout": share}


def gpu_identity() -> tuple[str, list[str]]:
    """This actor's node and the GPU ids Ray gave it (ids are per node)."""
    import ray

    context = ray.get_runtime_context()
    return context.get_node_id(), [str(i) for i in context.get_accelerator_ids().get("GPU", [])]


def shares_a_gpu(learner: tuple[str, list[str]], workers: list[tuple[str, list[str]]]) -> bool:
    """Whether any rollout worker sits on one of the learner's GPUs (same node, a common id)."""
    node, gpus = learner
    return any(other == node and set(ids) & set(gpus) for other, ids in workers)


def workers_share_learner_gpu(actors: Actors) -> bool:
    """Asked once per run: NCCL refuses a group with two ranks on one GPU ("Duplicate GPU
    detected"), so vLLM workers beside the learner take their weights through Ray's object store."""
    import ray

    if actors.shares_gpu is None:
        learner = ray.get(actors.learner.gpu_identity.remote())
        actors.shares_gpu = shares_a_gpu(learner, ray.get([w.gpu_identity.remote() for w in actors.rollouts]))
    return actors.shares_gpu


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
