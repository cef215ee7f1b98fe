"""The vLLM engine: its pure parts here on CPU; a real engine only where vLLM and a GPU exist
(benchmarks/vllm_check.py runs the full checks on the device machine)."""

import importlib.util
import os
import subprocess
import sys
from types import SimpleNamespace

import pytest
import torch

from grpo.config import RecipeError, load_recipe, recipe_from_dict
from grpo.rollout.vllm_engine import completions_from_outputs, max_lora_rank, request_seed
from tests.conftest import minimal_recipe


def test_request_seeds_give_every_sample_its_own_stream():
    n = 16
    seeds = [request_seed(12345, i, n) for i in range(64)]
    streams = [s + k for s in seeds for k in range(n)]  # vLLM seeds sample k of a request with seed + k
    assert len(set(streams)) == len(streams)
    assert request_seed(1, 0, n) != request_seed(2, 0, n)
    assert all(0 <= s + n < 2**31 for s in seeds)


def test_max_lora_rank_rounds_up_to_a_served_rank():
    assert [max_lora_rank(r) for r in (1, 4, 8, 9, 16, 48, 512)] == [1, 8, 8, 16, 16, 64, 512]
    with pytest.raises(ValueError, match="model.lora.r = 600"):
        max_lora_rank(600)


def _logprob(value):
    return SimpleNamespace(logprob=value, rank=1, decoded_token=None)


def test_completions_from_outputs():
    outputs = [
        SimpleNamespace(outputs=[
            SimpleNamespace(token_ids=[5, 6], text="ab", finish_reason="stop",
                            logprobs=[{5: _logprob(-0.5)}, {6: _logprob(-1.25), 9: _logprob(-0.1)}]),
            SimpleNamespace(token_ids=(7,), text="c", finish_reason="length", logprobs=[{7: _logprob(-2.0)}]),
        ]),
        SimpleNamespace(outputs=[SimpleNamespace(token_ids=[], text="", finish_reason="abort", logprobs=[])]),
    ]
    got = completions_from_outputs(outputs, [[1, 2], [3]])
    assert [(c.prompt_index, c.prompt_ids, c.completion_ids, c.text, c.finish_reason) for c in got] == [
        (0, [1, 2], [5, 6], "ab", "stop"), (0, [1, 2], [7], "c", "length"), (1, [3], [], "", "stop")]
    assert got[0].logprobs == [-0.5, -1.25]  # the sampled token's entry, not the top-ranked one
    assert got[1].logprobs == [-2.0]


def test_vllm_engine_refused_on_cpu(tmp_path):
    with pytest.raises(RecipeError, match="rollout.engine = 'vllm': vLLM generates on GPUs only"):
        recipe_from_dict(minimal_recipe(tmp_path, rollout={"engine": "vllm"}, trainer={"device": "cpu"}))


@pytest.mark.skipif(importlib.util.find_spec("vllm") is not None, reason="vLLM is installed here")
def test_missing_vllm_named_at_load(tmp_path):
    import yaml

    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump(minimal_recipe(tmp_path, rollout={"engine": "vllm"})))
    with pytest.raises(RecipeError, match=r"vLLM is not installed here.*pip install 'grpo\[vllm\]'"):
        load_recipe(path)


def test_import_grpo_never_imports_vllm():
    import subprocess
    import sys

    code = ("import sys, grpo, grpo.trainer, grpo.learner, grpo.rollout.factory, grpo.rollout.vllm_engine, "
            "grpo.rollout.vllm_worker; print('vllm' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


needs_vllm_gpu = pytest.mark.skipif(
    importlib.util.find_spec("vllm") is None or not torch.cuda.is_available(),
    reason="needs vLLM and a CUDA GPU (pip install 'grpo[vllm]'); benchmarks/vllm_check.py runs it on the device",
)


def ran_in_own_process(request) -> bool:
    """vLLM's sleep mode allocates through one CuMem allocator per process, which only one engine
    may use ("CuMem allocator can only be used for one instance per process"), so a second real
    engine in this pytest process would fail at load. A real-engine test reruns itself in a child
    process and passes or fails with it; True means the child ran it."""
    if os.environ.get("GRPO_REAL_VLLM_TEST") == request.node.name:
        return False
    # the child's report without its captured vLLM logs, so its own failure is what this one shows
    child = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--tb=short", "--show-capture=no",
                            "-W", "ignore", f"{__file__}::{request.node.name}"],
                           env={**os.environ, "GRPO_REAL_VLLM_TEST": request.node.name}, capture_output=True, text=True)
    assert child.returncode == 0, child.stdout[-6000:]
    return True


@needs_vllm_gpu
def test_real_engine_weight_sync_matches_trainer(tiny_base, request):
    if ran_in_own_process(request):
        return
    from grpo.policy import completion_logprobs
    from grpo.rollout.base import SamplingParams
    from grpo.rollout.vllm_engine import VLLMEngine
    from grpo.rollout.weight_sync import engine_weights
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_base)
    model = AutoModelForCausalLM.from_pretrained(tiny_base, dtype=torch.bfloat16).cuda()
    engine = VLLMEngine(str(tiny_base), tokenizer, dtype="bfloat16", max_prompt_tokens=64, max_completion_tokens=32,
                        gpu_memory_utilization=0.2, enforce_eager=True, sleep=True,
                        weight_source=lambda: engine_weights(model))
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.02)
    engine.refresh()
    completion = engine.generate(["1+2="], SamplingParams(n=2, max_tokens=16, seed=3))[0]
    ids = torch.tensor([completion.prompt_ids + completion.completion_ids], device="cuda")
    mine = completion_logprobs(model, ids, torch.ones_like(ids), len(completion.completion_ids))[0][0]
    theirs = torch.tensor(engine.sequence_logprobs(completion.prompt_ids, completion.completion_ids), device="cuda")
    assert (mine.float() - theirs).abs().mean() < 0.05


def test_separate_vllm_needs_a_gpu_per_worker(tmp_path, monkeypatch):
    import ray

    from grpo.cluster import _gpu_share

    recipe = recipe_from_dict(minimal_recipe(
        tmp_path, rollout={"engine": "vllm", "colocate": False, "num_workers": 2}, trainer={"device": "cuda"}))
    monkeypatch.setattr(ray, "cluster_resources", lambda: {"GPU": 2.0})
    with pytest.raises(RecipeError, match="needs a GPU per rollout worker besides the learner's \\(3\\), but Ray sees 2"):
        _gpu_share(recipe)
    monkeypatch.setattr(ray, "cluster_resources", lambda: {"GPU": 3.0})
    assert _gpu_share(recipe) == {"learner": 1, "rollout": 1}


def test_torchs_cached_blocks_go_back_to_the_device_before_each_wake_up(monkeypatch):
    """vLLM maps its own memory: what torch's allocator caches must be released before it wakes."""
    from grpo.rollout.vllm_engine import VLLMEngine

    calls = []

    class FakeLLM:
        def wake_up(self, tags):
            calls.append(("wake_up", tuple(tags)))

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "empty_cache", lambda: calls.append(("empty_cache",)))
    engine = object.__new__(VLLMEngine)
    engine.llm, engine.weights_asleep, engine.kv_asleep, engine.stale, engine.weight_source = FakeLLM(), True, True, False, None
    engine._released, engine._released_low, engine.shared_bytes = (lambda: 0), 0, 0
    engine._ready()
    assert calls == [("empty_cache",), ("wake_up", ("weights",)), ("empty_cache",), ("wake_up", ("kv_cache",))]
    assert not engine.weights_asleep and not engine.kv_asleep


def test_a_colocated_steps_peaks_leave_out_what_sleeping_vllm_released():
    """torch counts vLLM's sleeping tensors as allocated (cuMem unmapped what is under them): each
    phase's peak drops the least that stayed released through that phase, and only that."""
    from grpo.phase_memory import GIB, PhasePeaks
    from grpo.rollout.vllm_engine import VLLMEngine
    from tests.test_phase_memory import FakeAllocator

    WEIGHTS, KV, LEARNER = 3 * GIB, 20 * GIB, 10 * GIB
    asleep = set()

    class FakeLLM:  # torch's count keeps vLLM's tensors whether or not they are mapped
        def sleep(self, level):
            asleep.update({"weights", "kv_cache"})

        def wake_up(self, tags):
            asleep.difference_update(tags)

    engine = object.__new__(VLLMEngine)
    engine.llm, engine.weights_asleep, engine.kv_asleep, engine.stale = FakeLLM(), False, False, False
    engine.weight_source, engine._released_low, engine.shared_bytes = None, 0, 0
    engine._released = lambda: WEIGHTS * ("weights" in asleep) + KV * ("kv_cache" in asleep)
    memory = FakeAllocator()
    peaks = PhasePeaks(lambda: memory.peak, memory.reset, engine.take_released_low)
    memory.set(LEARNER + WEIGHTS + KV + 2 * GIB)  # generation: vLLM awake, 2 GiB of sampling buffers
    memory.set(LEARNER + WEIGHTS + KV)
    engine.sleep()
    peaks.end_phase("generate")
    memory.set(LEARNER + WEIGHTS + KV + 6 * GIB)  # forward/backward: 6 GiB of activations
    memory.set(LEARNER + WEIGHTS + KV)
    peaks.end_phase("train")
    memory.set(LEARNER + WEIGHTS + KV + 1 * GIB)  # the optimizer's step
    memory.set(LEARNER + WEIGHTS + KV)
    peaks.end_phase("optimizer")
    engine.refresh = lambda: engine._wake_weights()  # the update's weights go in: weights mapped again
    engine.refresh()
    peaks.end_phase("train")  # the sync window: the KV cache slept throughout, the weights did not
    assert peaks.metrics() == {"memory/generate_peak_gib": 35.0, "memory/train_peak_gib": 16.0,
                               "memory/optimizer_peak_gib": 11.0, "memory/peak_gib": 35.0}
    engine._ready()  # the next generation: everything awake, nothing taken off
    memory.set(LEARNER + WEIGHTS + KV + 2 * GIB)
    peaks.end_phase("generate")
    assert peaks.metrics()["memory/generate_peak_gib"] == 35.0


def test_with_shared_base_weights_sleep_releases_only_the_kv_cache(monkeypatch):
    """rollout.vllm.share_lora_base: the trainer computes with vLLM's weight memory while vLLM
    sleeps, so sleep must unmap the KV cache's allocations and nothing else, never through
    vLLM's own sleep (which unmaps the weights too), and wake-up maps them back at the same
    addresses with the prefix cache forgotten."""
    import sys
    import types

    from grpo.rollout.vllm_engine import VLLMEngine

    def allocation(tag):
        return SimpleNamespace(tag=tag, handle=(id(object()), 1 << 30), is_asleep=False)

    pool = {1: allocation("weights"), 2: allocation("kv_cache"), 3: allocation("kv_cache"), 4: allocation("weights")}
    calls = []
    cumem = types.ModuleType("vllm.device_allocator.cumem")
    cumem.CuMemAllocator = SimpleNamespace(get_instance=lambda: SimpleNamespace(pointer_to_data=pool))
    cumem.unmap_and_release = lambda handle: calls.append(("unmap", handle))
    cumem.create_and_map = lambda handle: calls.append(("map", handle))
    for name in ("vllm", "vllm.device_allocator"):
        monkeypatch.setitem(sys.modules, name, types.ModuleType(name))
    monkeypatch.setitem(sys.modules, "vllm.device_allocator.cumem", cumem)
    monkeypatch.setattr(torch.cuda, "synchronize", lambda: None)
    monkeypatch.setattr(torch.cuda, "empty_cache", lambda: calls.append(("empty_cache",)))

    class FakeLLM:
        def sleep(self, level):
            raise AssertionError("vLLM's own sleep would unmap the shared weights")

        def wake_up(self, tags):
            raise AssertionError("nothing of vLLM's own sleep to wake")

        def reset_prefix_cache(self):
            calls.append(("reset_prefix_cache",))

        def collective_rpc(self, method):
            runner = SimpleNamespace(post_kv_cache_wake_up=lambda: calls.append(("post_kv_cache_wake_up",)))
            return [method(SimpleNamespace(model_runner=runner))]

    engine = object.__new__(VLLMEngine)
    engine.llm, engine.weights_asleep, engine.kv_asleep, engine.stale = FakeLLM(), False, False, False
    engine.weight_source, engine.shared_bytes, engine.sleep_enabled = (lambda: []), 15 << 30, True
    engine._released_low = 0
    engine._released = lambda: sum(d.handle[1] for d in pool.values() if d.is_asleep)

    engine.finish_generation()
    kv = [pool[2].handle, pool[3].handle]
    assert calls == [("unmap", kv[0]), ("unmap", kv[1])]
    assert [d.is_asleep for d in pool.values()] == [False, True, True, False]
    assert engine.kv_asleep and not engine.weights_asleep and not engine.stale  # no base reload to come
    assert engine.take_released_low() == 0  # the generation phase: awake until its end
    assert engine.take_released_low() == 2 << 30  # a phase slept through: the KV cache released
    calls.clear()
    engine._ready()
    # vLLM's wake-up hook rebuilds what its runner keeps in the KV cache's memory (block-table layout)
    assert calls == [("empty_cache",), ("map", kv[0]), ("map", kv[1]), ("post_kv_cache_wake_up",), ("reset_prefix_cache",)]
    assert not any(d.is_asleep for d in pool.values()) and not engine.kv_asleep


@needs_vllm_gpu
def test_real_engine_shares_a_lora_runs_base_weights_and_generates_the_same(tiny_base, request):
    """rollout.vllm.share_lora_base on a real vLLM: every frozen base weight of the trainer ends up
    in vLLM's memory, and sampling with a sleep/wake cycle in between gives what it gave before."""
    if ran_in_own_process(request):
        return
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from grpo.rollout.base import SamplingParams
    from grpo.rollout.vllm_engine import VLLMEngine
    from grpo.rollout.weight_sync import engine_weights

    tokenizer = AutoTokenizer.from_pretrained(tiny_base)
    base = AutoModelForCausalLM.from_pretrained(tiny_base, dtype=torch.bfloat16).cuda()
    model = get_peft_model(base, LoraConfig(r=8, lora_alpha=16, target_modules="all-linear"))
    frozen = sum(p.numel() * p.element_size() for n, p in model.named_parameters() if not p.requires_grad)
    engine = VLLMEngine(str(tiny_base), tokenizer, dtype="bfloat16", max_prompt_tokens=64, max_completion_tokens=32,
                        gpu_memory_utilization=0.2, enforce_eager=True, sleep=True, lora_rank=8,
                        weight_source=lambda: engine_weights(model, merge_lora=False), share_from=model)
    assert engine.shared_bytes == frozen
    assert all(p.device.type == "cuda" for p in model.parameters())  # back from host memory, or views
    params = SamplingParams(n=2, max_tokens=16, seed=3)
    first = engine.generate(["1+2="], params)[0]  # sleeps afterwards: KV cache released, weights kept
    ids = torch.tensor([[1, 2, 3]], device="cuda")
    model(input_ids=ids).logits.sum().backward()  # the trainer computes with vLLM's weight memory
    again = engine.generate(["1+2="], params)[0]
    assert again.completion_ids == first.completion_ids
