"""One buffer per layer behind every static KV cache (grpo/rollout/kv_pool.py): views share the
buffer's start, a larger request replaces it, and the engine's compacting decode loop keeps only
the largest cache's bytes, with the same samples as before."""

import pytest
import torch

from grpo.rollout.base import SamplingParams
from grpo.rollout.cuda_graphs import GraphedDecode
from grpo.rollout.kv_pool import KVPool
from tests.test_cuda_graphs import EagerCapture
from tests.test_rollout import MANY, small_engine


def test_the_first_request_becomes_the_buffer_and_smaller_ones_view_its_start():
    pool = KVPool()
    first = torch.arange(24.0).view(2, 3, 4)
    assert pool.view(0, "keys", first).data_ptr() == first.data_ptr()  # adopted, not copied
    smaller = pool.view(0, "keys", torch.empty(1, 2, 4))
    assert smaller.shape == (1, 2, 4) and smaller.data_ptr() == first.data_ptr()
    assert smaller.flatten().tolist() == list(range(8))  # the first 8 elements of the buffer
    assert pool.generation == 0 and pool.nbytes() == 24 * 4


def test_layers_and_kinds_have_their_own_buffers():
    pool = KVPool()
    keys, values, other = torch.zeros(2, 4), torch.zeros(2, 4), torch.zeros(2, 4)
    pool.view(0, "keys", keys), pool.view(0, "values", values), pool.view(1, "keys", other)
    assert len({keys.data_ptr(), values.data_ptr(), other.data_ptr()}) == 3
    assert pool.nbytes() == 3 * 8 * 4


@pytest.mark.parametrize("bigger", [torch.zeros(3, 4), torch.zeros(2, 4, dtype=torch.float64)])
def test_a_request_that_does_not_fit_replaces_the_buffer(bigger):
    pool = KVPool()
    pool.view(0, "keys", torch.zeros(2, 4))
    assert pool.view(0, "keys", bigger).data_ptr() == bigger.data_ptr()
    assert pool.generation == 1  # caches made on the old buffer are stale
    assert pool.nbytes() == bigger.numel() * bigger.element_size()


def test_non_contiguous_caches_are_refused():
    with pytest.raises(ValueError, match="non-contiguous"):
        KVPool().view(0, "keys", torch.zeros(4, 2).t())


PARAMS = SamplingParams(n=4, temperature=1.0, max_tokens=90, seed=3, stop=("</answer>",))
OPTIONS = dict(static_cache=True, batch_bucket=4, length_bucket=16, compact=True)


def cache_bytes(cache) -> int:
    return sum(t.numel() * t.element_size() for layer in cache.layers for t in (layer.keys, layer.values))


def test_compaction_keeps_one_caches_memory_not_one_per_batch_size():
    engine = small_engine(**OPTIONS)
    engine.generate(MANY, PARAMS)
    caches = list(engine._caches.values())
    assert len(caches) >= 3  # 16 rows, then smaller batches as rows finished
    for index in range(len(caches[0].layers)):  # every cache's layer i starts at the same address
        assert len({cache.layers[index].keys.data_ptr() for cache in caches}) == 1
        assert len({cache.layers[index].values.data_ptr() for cache in caches}) == 1
    largest = max(cache_bytes(cache) for cache in caches)
    assert engine._pool.nbytes() == largest < sum(cache_bytes(cache) for cache in caches)


def test_pooled_caches_give_the_samples_of_caches_without_compaction():
    """A shrink now writes the survivors into memory it reads them from (both caches view one
    buffer); a row overwritten before it was read would change the samples."""
    pooled = small_engine(**OPTIONS).generate(MANY, PARAMS)
    plain = small_engine(**{**OPTIONS, "compact": False}).generate(MANY, PARAMS)
    assert [c.completion_ids for c in pooled] == [c.completion_ids for c in plain]
    for x, y in zip(pooled, plain):
        assert torch.allclose(torch.tensor(x.logprobs), torch.tensor(y.logprobs), atol=1e-5)


def test_a_larger_call_replaces_the_pool_and_forgets_stale_caches_and_graphs():
    engine = small_engine(**OPTIONS)
    engine._step = GraphedDecode(engine._decode, engine.model, backend=EagerCapture())
    short = SamplingParams(n=1, temperature=0.0, max_tokens=8)
    engine.generate(MANY[:1], short)
    assert engine._step.graphs and engine._pool.generation == 0
    stale = set(engine._caches)

    wide = SamplingParams(n=4, temperature=1.0, max_tokens=60, seed=5, stop=("</answer>",))
    out = engine.generate(MANY, wide)
    assert engine._pool.generation > 0
    assert not stale & set(engine._caches)  # the small call's caches were dropped ...
    buffers = {buffer.data_ptr() for buffer in engine._pool.buffers.values()}
    for cache in engine._caches.values():  # ... and every cache left views the current buffers
        assert {t.data_ptr() for layer in cache.layers for t in (layer.keys, layer.values)} <= buffers
    graph_caches = {key[: 2 * len(cache.layers)] for key in engine._step.graphs}
    assert all(set(addresses) <= buffers for addresses in graph_caches)  # no graph of freed memory

    fresh = small_engine(**OPTIONS)
    fresh._step = GraphedDecode(fresh._decode, fresh.model, backend=EagerCapture())
    expected = fresh.generate(MANY, wide)
    assert [c.completion_ids for c in out] == [c.completion_ids for c in expected]


def test_release_cache_frees_every_cache_and_graph_and_samples_stay_the_same():
    kept = small_engine(**OPTIONS)
    released = small_engine(**OPTIONS, release_cache=True)
    for engine in (kept, released):
        engine._step = GraphedDecode(engine._decode, engine.model, backend=EagerCapture())
    first = released.generate(MANY, PARAMS)
    assert released._caches == {} and released._pool.nbytes() == 0 and released._step.graphs == {}
    captured = released._step.captures
    second = released.generate(MANY, PARAMS)
    assert released._step.captures == 2 * captured  # every graph captured again: the price of releasing
    expected = kept.generate(MANY, PARAMS)
    assert kept._caches and kept._pool.nbytes() > 0  # the default keeps them for the next call
    for out in (first, second):
        assert [c.completion_ids for c in out] == [c.completion_ids for c in expected]


def test_release_cache_reaches_only_a_colocated_engine(tmp_path):
    from grpo.config import recipe_from_dict
    from grpo.rollout.hf_engine import build_transformers_engine
    from tests.conftest import minimal_recipe

    engine = small_engine()
    recipe = recipe_from_dict(minimal_recipe(tmp_path, rollout={"release_cache": True, "capture": "cuda_graph"}))
    build = lambda colocated: build_transformers_engine(recipe, engine.tokenizer, model=engine.model,  # noqa: E731
                                                        colocated=colocated)
    assert build(True).release_cache and not build(False).release_cache  # a rollout actor's memory is its own


def test_release_cache_with_torch_compiles_graphs_is_refused(tmp_path):
    from grpo.config import RecipeError, recipe_from_dict
    from tests.conftest import minimal_recipe

    with pytest.raises(RecipeError, match="rollout.release_cache = True.*rollout.capture=cuda_graph"):
        recipe_from_dict(minimal_recipe(tmp_path, rollout={"release_cache": True}))  # capture defaults to torch_compile
    recipe_from_dict(minimal_recipe(tmp_path, rollout={"release_cache": True, "compile": False}))


@pytest.mark.parametrize("graphed", [False, True])
def test_released_caches_are_freed_at_once_not_at_the_next_garbage_collection(graphed):
    """A reference cycle (a layer holding a closure that holds the layer) would keep 17.5 GiB of
    workload R's cache allocated until Python's cycle collector happened to run: during the update
    that release_cache is meant to make room for."""
    import gc
    import weakref

    engine = small_engine(**OPTIONS, release_cache=True)
    if graphed:  # the captured graphs, dropped with the cache, must not hold it either
        engine._step = GraphedDecode(engine._decode, engine.model, backend=EagerCapture())
    gc.collect()
    gc.disable()
    try:
        engine.generate_ids([engine.encode(p) for p in MANY], PARAMS)
        caches = [weakref.ref(cache) for cache in engine._caches.values()]
        buffers = [weakref.ref(buffer) for buffer in engine._pool.buffers.values()]
        engine.finish_generation()
        assert caches and all(ref() is None for ref in caches + buffers)
    finally:
        gc.enable()
