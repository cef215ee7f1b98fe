import os
from pathlib import Path

import pytest

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("RAY_AUTH_MODE", "disabled")
# transformers >= 5.25 would fetch Hub kernels in the tests' own from_pretrained calls (no network here)
os.environ.setdefault("USE_HUB_KERNELS", "NO")

ROOT = Path(__file__).resolve().parents[1]
TINY_BASE = ROOT / "examples" / "tiny_base" / "checkpoint"


@pytest.fixture
def tiny_base() -> Path:
    if not (TINY_BASE / "config.json").exists():
        pytest.fail(f"the shipped tiny base checkpoint is missing at {TINY_BASE}")
    return TINY_BASE


def minimal_recipe(tmp_path: Path, **sections) -> dict:
    recipe = {
        "name": "test",
        "output_dir": str(tmp_path / "runs"),
        "model": {"path": str(TINY_BASE)},
        "data": {"train": {"task": "arithmetic", "num_samples": 64}},
        "rewards": {"verifiers": [{"name": "answer"}]},
        "rollout": {"group_size": 4, "prompts_per_step": 4, "max_completion_tokens": 16},
        "trainer": {"steps": 2},
    }
    for key, value in sections.items():
        recipe[key] = {**recipe.get(key, {}), **value} if isinstance(value, dict) else value
    return recipe


@pytest.fixture(scope="session")
def ray_cluster():
    import ray

    ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR")
    yield
    ray.shutdown()


@pytest.fixture(scope="session")
def cli_env(ray_cluster) -> dict[str, str]:
    """The environment for a `grpo train` subprocess: the repository importable, and RAY_ADDRESS
    naming the session's cluster, so the CLI joins it (~0.1 s) instead of starting its own (~3 s
    to start, ~1.4 s to stop) in each of the suite's CLI runs. Each run is still its own Ray job
    (its own workers, killed with its driver), so kill and resume tests keep their meaning."""
    import ray

    # a test that calls ray.shutdown() would leave this address dead for every later CLI run (which
    # then stops at grpo.cluster's reachability check): such tests take `ray_cluster` instead
    return {**os.environ, "PYTHONPATH": str(ROOT), "RAY_ADDRESS": ray.get_runtime_context().gcs_address}


def load_module(path):
    """A script that is not a package module (examples/*/build.py), imported from its file."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(f"loaded_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
