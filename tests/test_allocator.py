"""The learner's allocator setting: expandable segments wherever no engine in its process forbids them."""

import pytest
import torch

from grpo import allocator
from grpo.config import RecipeError, recipe_from_dict
from tests.conftest import minimal_recipe


def recipe(tmp_path, trainer=None, rollout=None):
    return recipe_from_dict(minimal_recipe(tmp_path, trainer=trainer or {}, rollout=rollout or {}))


@pytest.mark.parametrize("rollout, expected", [
    ({"engine": "transformers", "colocate": True}, True),   # generates with the trained module
    ({"engine": "transformers", "colocate": False}, True),
    ({"engine": "vllm", "colocate": False}, True),          # vLLM in its own worker processes
    ({"engine": "vllm", "colocate": True}, None),           # sleep mode's own memory pool, same process
    ({"engine": "auto", "colocate": True}, None),           # may become vLLM on a GPU
    ({"engine": "auto", "colocate": False}, True),
])
def test_auto_turns_them_on_unless_a_colocated_engine_brings_its_own_pool(tmp_path, rollout, expected):
    assert allocator.wants_expandable_segments(recipe(tmp_path, rollout=rollout), environ={}) is expected


def test_auto_leaves_a_users_own_setting_alone(tmp_path):
    plain = recipe(tmp_path, rollout={"engine": "transformers"})
    assert allocator.wants_expandable_segments(plain, environ={"PYTORCH_CUDA_ALLOC_CONF": "expandable_segments:False"}) is None
    # another option in the variable does not speak for expandable segments
    assert allocator.wants_expandable_segments(plain, environ={"PYTORCH_CUDA_ALLOC_CONF": "max_split_size_mb:512"}) is True


@pytest.mark.parametrize("choice, expected", [("on", True), ("off", False)])
def test_an_explicit_choice_wins_over_the_environment(tmp_path, choice, expected):
    chosen = recipe(tmp_path, trainer={"expandable_segments": choice}, rollout={"engine": "transformers"})
    env = {"PYTORCH_CUDA_ALLOC_CONF": f"expandable_segments:{not expected}"}
    assert allocator.wants_expandable_segments(chosen, environ=env) is expected


def test_on_with_a_sleeping_colocated_vllm_is_refused_at_load(tmp_path):
    with pytest.raises(RecipeError) as err:
        recipe(tmp_path, trainer={"expandable_segments": "on"}, rollout={"engine": "vllm", "colocate": True})
    message = str(err.value)
    assert "trainer.expandable_segments" in message and "rollout.vllm.sleep=false" in message
    awake = recipe(tmp_path, trainer={"expandable_segments": "on"},
                   rollout={"engine": "vllm", "colocate": True, "vllm": {"sleep": False}})
    assert allocator.wants_expandable_segments(awake, environ={}) is True


def test_configure_sets_the_allocator_on_a_gpu_only(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(torch.cuda.memory, "_set_allocator_settings", calls.append)
    monkeypatch.delenv("PYTORCH_CUDA_ALLOC_CONF", raising=False)
    plain = recipe(tmp_path, rollout={"engine": "transformers"})
    assert allocator.configure_allocator(plain, torch.device("cpu")) is None
    assert calls == []
    assert allocator.configure_allocator(plain, torch.device("cuda", 0)) is True
    off = recipe(tmp_path, trainer={"expandable_segments": "off"}, rollout={"engine": "transformers"})
    assert allocator.configure_allocator(off, torch.device("cuda", 0)) is False
    colocated_vllm = recipe(tmp_path, rollout={"engine": "vllm", "colocate": True})
    assert allocator.configure_allocator(colocated_vllm, torch.device("cuda", 0)) is None
    assert calls == ["expandable_segments:True", "expandable_segments:False"]
