"""How the driver shares GPUs among learner ranks and rollout workers (grpo/cluster.py).

Ray places a fractional GPU request on one GPU, so a share is only usable if every actor fits on
some GPU's free part. The check below packs the requests first-fit onto the GPUs the way Ray
must, independently of how _gpu_share computed them."""

import pytest

from grpo.cluster import _gpu_share, actor_threads
from grpo.config import recipe_from_dict
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
