"""How the driver shares GPUs among learner ranks and rollout workers (grpo/cluster.py).

Ray places a fractional GPU request on one GPU, so a share is only usable if every actor fits on
some GPU's free part. The check below packs the requests first-fit onto the GPUs the way Ray
must, independently of how _gpu_share computed them."""

import pytest

from grpo.cluster import _gpu_share, actor_threads, shares_a_gpu
from grpo.config import RecipeError, recipe_from_dict
from tests.conftest import minimal_recipe


def fits(gpus: int, requests: list[float]) -> bool:
    free = [1.0] * gpus
    for share in sorted(requests, reverse=True):
        spot = next((i for i, left in enumerate(free) if left + 1e-9 >= share), None)
        if spot is None:
            return False
        free[spot] -= share
    return True


@pytest.mark.parametrize("world,workers", [(2, 1), (2, 2), (2, 3), (2, 4), (4, 1), (4, 5), (4, 8), (3, 7)])
def test_transformers_workers_on_a_sharded_learners_gpus_can_all_be_placed(tmp_path, monkeypatch, world, workers):
    import ray

    recipe = recipe_from_dict(minimal_recipe(
        tmp_path, rollout={"engine": "transformers", "colocate": False, "num_workers": workers},
        trainer={"device": "cuda", "world_size": world}))
    monkeypatch.setattr(ray, "cluster_resources", lambda: {"GPU": float(world)})
    share = _gpu_share(recipe)
    assert share["learner"] == 0.75
    assert fits(world, [share["learner"]] * world + [share["rollout"]] * workers)
    # and no smaller than it must be: the busiest GPU's workers fill its quarter
    busiest = -(-workers // world)
    assert share["rollout"] * busiest == pytest.approx(0.25)


def test_the_packing_check_rejects_what_ray_cannot_place():
    # the share this module once gave 1 worker beside 2 learners: half a GPU where only quarters are free
    assert not fits(2, [0.75, 0.75, 0.5])
    assert fits(2, [0.75, 0.75, 0.25])


def test_sharded_learners_with_spare_gpus_give_every_worker_its_own(tmp_path, monkeypatch):
    import ray

    recipe = recipe_from_dict(minimal_recipe(
        tmp_path, rollout={"engine": "transformers", "colocate": False, "num_workers": 2},
        trainer={"device": "cuda", "world_size": 2}))
    monkeypatch.setattr(ray, "cluster_resources", lambda: {"GPU": 4.0})
    assert _gpu_share(recipe) == {"learner": 1.0, "rollout": 1.0}


@pytest.mark.parametrize("address,env,joined", [
    (None, None, None),                       # neither: a local cluster of cluster.num_cpus CPUs
    (None, "10.0.0.1:6379", "10.0.0.1:6379"),  # RAY_ADDRESS, as `ray job submit` sets it for its entrypoint
    ("auto", "10.0.0.1:6379", "auto"),        # the recipe's own address wins
])
def test_init_ray_joins_the_recipe_address_else_ray_address_else_starts_one(tmp_path, monkeypatch, address, env,
                                                                           joined):
    import ray

    from grpo.cluster import init_ray

    calls = []
    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", lambda **kwargs: calls.append(kwargs))
    monkeypatch.setattr("grpo.cluster._check_reachable", lambda address, source: None)  # no cluster at 10.0.0.1
    if env is None:
        monkeypatch.delenv("RAY_ADDRESS", raising=False)
    else:
        monkeypatch.setenv("RAY_ADDRESS", env)
    recipe = recipe_from_dict(minimal_recipe(tmp_path, cluster={"address": address, "num_cpus": 3}))
    assert init_ray(recipe) is True
    (kwargs,) = calls
    if joined is None:
        assert "address" not in kwargs and kwargs["num_cpus"] == 3
    else:
        # joining a cluster: Ray refuses num_cpus there, so none is passed
        assert kwargs["address"] == joined and "num_cpus" not in kwargs


@pytest.mark.parametrize("address", [None, "10.0.0.1:6379"])
def test_only_a_joined_cluster_is_given_the_drivers_extra_pythonpath(tmp_path, monkeypatch, address):
    """A started cluster inherits the driver's environment; a joined one is told only the PYTHONPATH
    entries besides the working folder (Ray adds that one), since any runtime_env slows every actor."""
    import os

    import ray

    from grpo.cluster import init_ray

    calls = []
    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", lambda **kwargs: calls.append(kwargs))
    monkeypatch.setattr("grpo.cluster._check_reachable", lambda address, source: None)
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    monkeypatch.chdir(tmp_path)
    recipe = recipe_from_dict(minimal_recipe(tmp_path, cluster={"address": address}))
    for pythonpath, expected in [(None, None), (".", None), (str(tmp_path), None),
                                 (f"/opt/plugins{os.pathsep}.", f"{tmp_path}{os.pathsep}/opt/plugins")]:
        calls.clear()
        if pythonpath is None:
            monkeypatch.delenv("PYTHONPATH", raising=False)
        else:
            monkeypatch.setenv("PYTHONPATH", pythonpath)
        init_ray(recipe)
        (kwargs,) = calls
        if address is None or expected is None:
            assert "runtime_env" not in kwargs, (pythonpath, kwargs)
        else:
            assert kwargs["runtime_env"] == {"env_vars": {"PYTHONPATH": expected}}


def test_an_address_nothing_answers_on_fails_at_once_naming_where_it_came_from(tmp_path, monkeypatch):
    """A stale RAY_ADDRESS (a cluster since stopped) would leave ray.init waiting for minutes."""
    import socket

    import ray

    from grpo.cluster import init_ray
    from grpo.config import RecipeError

    with socket.socket() as probe:  # a port that was free a moment ago: nothing listens there
        probe.bind(("127.0.0.1", 0))
        dead = f"127.0.0.1:{probe.getsockname()[1]}"
    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", lambda **kwargs: pytest.fail("ray.init must not be reached"))
    monkeypatch.setenv("RAY_ADDRESS", dead)
    with pytest.raises(RecipeError, match=f"RAY_ADDRESS = {dead}: no Ray cluster answers there"):
        init_ray(recipe_from_dict(minimal_recipe(tmp_path)))
    monkeypatch.delenv("RAY_ADDRESS")
    with pytest.raises(RecipeError, match=f"cluster.address = {dead}: no Ray cluster answers there"):
        init_ray(recipe_from_dict(minimal_recipe(tmp_path, cluster={"address": dead})))


@pytest.mark.parametrize("rollout, world, expected", [
    ({}, 1, 8),  # colocated: one process
    ({"colocate": False, "num_workers": 2}, 1, 8),  # synchronous workers take turns with the learner
    ({"colocate": False, "num_workers": 1, "max_staleness": 1}, 1, 4),  # they overlap: the cores are split
    ({"colocate": False, "num_workers": 3, "max_staleness": 2}, 1, 2),
    ({"colocate": False, "num_workers": 2, "max_staleness": 1}, 2, 2),
])
def test_actor_threads_split_the_cores_only_between_processes_that_overlap(tmp_path, rollout, world, expected):
    correction = {"sampler_correction": "tis"} if rollout.get("max_staleness") else {}
    recipe = recipe_from_dict(minimal_recipe(tmp_path, rollout={"group_size": 4, "prompts_per_step": 4,
                                                                "max_completion_tokens": 16, **rollout},
                                             algorithm=correction))
    assert actor_threads(recipe, world, 8) == expected
    assert actor_threads(recipe, world, 1) == 1


@pytest.mark.parametrize("gpus,workers,share,learner", [
    (1, 1, 0.5, 0.5),   # one card: the learner and a vLLM worker side by side, each its own process
    (1, 2, 0.25, 0.5),
    (1, 1, 0.4, 0.6),   # the learner keeps what the worker leaves
    (2, 2, 0.5, 1.0),   # both workers fit on the spare GPU: the learner keeps its own
    (4, 3, 1.0, 1.0),
])
def test_fractional_rollout_workers_are_placed_where_ray_can_put_them(tmp_path, monkeypatch, gpus, workers, share,
                                                                      learner):
    import ray

    recipe = recipe_from_dict(minimal_recipe(
        tmp_path, rollout={"engine": "vllm", "colocate": False, "num_workers": workers, "gpus_per_worker": share,
                           "vllm": {"gpu_memory_utilization": min(share, 0.9)}},
        trainer={"device": "cuda"}))
    monkeypatch.setattr(ray, "cluster_resources", lambda: {"GPU": float(gpus)})
    placed = _gpu_share(recipe)
    assert placed == {"learner": pytest.approx(learner), "rollout": share}
    assert fits(gpus, [placed["learner"]] + [share] * workers)


def test_fractional_workers_that_leave_the_learner_nothing_are_refused(tmp_path, monkeypatch):
    import ray

    recipe = recipe_from_dict(minimal_recipe(
        tmp_path, rollout={"engine": "transformers", "colocate": False, "num_workers": 2, "gpus_per_worker": 0.5},
        trainer={"device": "cuda"}))
    monkeypatch.setattr(ray, "cluster_resources", lambda: {"GPU": 1.0})
    with pytest.raises(RecipeError, match=r"rollout.gpus_per_worker = 0.5 for 2 rollout worker\(s\) leaves the learner 0"):
        _gpu_share(recipe)


@pytest.mark.parametrize("section,message", [
    ({"rollout": {"colocate": True, "gpus_per_worker": 0.5}}, "needs rollout.colocate=false"),
    ({"rollout": {"colocate": False, "num_workers": 1, "gpus_per_worker": 0.5}, "trainer": {"world_size": 2}},
     "trainer.world_size=1"),
    ({"rollout": {"engine": "vllm", "colocate": False, "gpus_per_worker": 0.4, "vllm": {"gpu_memory_utilization": 0.5}},
      "trainer": {"device": "cuda"}},
     r"rollout.vllm.gpu_memory_utilization.*0.5.*must not exceed that share"),
])
def test_a_gpu_share_for_workers_that_cannot_use_it_is_refused(tmp_path, section, message):
    with pytest.raises(RecipeError, match=message):
        recipe_from_dict(minimal_recipe(tmp_path, **section))


def test_a_worker_shares_the_learners_gpu_only_on_the_same_node_and_id():
    learner = ("node-a", ["0"])
    assert shares_a_gpu(learner, [("node-a", ["0"])])
    assert not shares_a_gpu(learner, [("node-a", ["1"])])   # the other card of the same machine
    assert not shares_a_gpu(learner, [("node-b", ["0"])])   # GPU 0 of another machine
    assert shares_a_gpu(learner, [("node-b", ["0"]), ("node-a", ["0"])])


def test_vllm_workers_on_the_learners_gpu_get_the_weights_through_the_object_store(tmp_path, ray_cluster):
    """NCCL refuses two ranks on one GPU ("Duplicate GPU detected"), so such a worker must never be
    asked to join the broadcast group: here the learner's fake fails the run if it is."""
    # defined here, so Ray pickles them by value (its workers cannot import a test module)
    class _FakeLearner:
        def __init__(self, identity):
            self.identity = identity

        def gpu_identity(self):
            return self.identity

        def share_weights(self):
            return {"w": 1}

        def sync_address(self):
            raise AssertionError("a worker on the learner's GPU must not be asked into an NCCL group")

        def broadcast_weights(self, plan):
            raise AssertionError("no broadcast to a worker on the learner's GPU")

    class _FakeWorker:
        def __init__(self, identity):
            self.identity, self.loaded = identity, []

        def gpu_identity(self):
            return self.identity

        def load_weights(self, state, version):
            self.loaded.append((state, version))

        def seen(self):
            return self.loaded

    import ray

    from grpo.cluster import Actors, LearnerGroup
    from grpo.trainer import sync_weights

    learner = ray.remote(_FakeLearner).remote(("node-a", ["0"]))
    worker = ray.remote(_FakeWorker).remote(("node-a", ["0"]))
    actors = Actors(learner, [worker], [], engine="vllm", learners=LearnerGroup([learner]))
    recipe = recipe_from_dict(minimal_recipe(tmp_path))
    sync_weights(recipe, actors)
    sync_weights(recipe, actors)
    assert ray.get(worker.seen.remote()) == [({"w": 1}, 1), ({"w": 1}, 2)]
    assert actors.shares_gpu is True and actors.sync_plan is None
    # the same worker on the learner's other GPU goes the NCCL way (which the fake learner refuses)
    apart = ray.remote(_FakeWorker).remote(("node-a", ["1"]))
    with pytest.raises(Exception, match="must not be asked into an NCCL group"):
        sync_weights(recipe, Actors(learner, [apart], [], engine="vllm", learners=LearnerGroup([learner])))
