"""Decode steps replayed from captured CUDA graphs (grpo/rollout/cuda_graphs.py), run on a CPU with an
eager stand-in for the capture: the bookkeeping around it (input buffers, one graph per shape and
cache, the cache counters the warm-up advances, dropping graphs when weights move) must give the
same samples as the plain static-cache path."""

import pytest
import torch

from grpo.rollout import cuda_graphs
from grpo.rollout.base import SamplingParams
from grpo.rollout.cuda_graphs import GraphedDecode, weights_fingerprint
from tests.test_rollout import MANY, small_engine


class EagerCapture:
    """Stands in for CudaGraphs: warm-up runs the step, a 'replay' runs it again into the output."""

    def warm_up(self, step):
        for _ in range(cuda_graphs.WARMUP_RUNS):
            step()

    def capture(self, step):
        output = step()  # a real capture records and runs nothing; the counters are restored either way
        return (lambda: output.copy_(step())), output


PARAMS = SamplingParams(n=4, temperature=1.0, max_tokens=90, seed=3, stop=("</answer>",))


def graphed_engine():
    engine = small_engine(static_cache=True, batch_bucket=4, length_bucket=16, compact=True)
    engine._step = GraphedDecode(engine._decode, engine.model, backend=EagerCapture())
    return engine


def test_graphed_decoding_gives_the_plain_static_paths_samples():
    plain, graphed = small_engine(static_cache=True, batch_bucket=4, length_bucket=16, compact=True), graphed_engine()
    a, b = plain.generate(MANY, PARAMS), graphed.generate(MANY, PARAMS)
    assert [c.completion_ids for c in a] == [c.completion_ids for c in b]
    for x, y in zip(a, b):
        assert torch.allclose(torch.tensor(x.logprobs), torch.tensor(y.logprobs), atol=1e-5)
    captured = graphed._step.captures
    assert captured >= 2  # compaction shrank the batch: one graph per batch size
    graphed.generate(MANY, PARAMS)
    assert graphed._step.captures == captured  # the next call replays the same graphs


def test_without_restoring_the_cache_counters_the_samples_change(monkeypatch):
    """Negative control: the warm-up really advances transformers' in-place cache counter; left
    advanced, keys land in the wrong slots and the samples differ."""
    plain = small_engine(static_cache=True, batch_bucket=4, length_bucket=16, compact=True).generate(MANY, PARAMS)
    monkeypatch.setattr(cuda_graphs, "_counters", lambda cache: [])
    broken = graphed_engine().generate(MANY, PARAMS)
    assert [c.completion_ids for c in plain] != [c.completion_ids for c in broken]


def test_moving_a_weight_drops_every_graph():
    engine = graphed_engine()
    engine.generate(MANY[:1], SamplingParams(n=2, temperature=0.0, max_tokens=8))
    step = engine._step
    before, fingerprint = step.captures, weights_fingerprint(engine.model)
    engine.generate(MANY[:1], SamplingParams(n=2, temperature=0.0, max_tokens=8))
    assert step.captures == before  # same shapes, same weights: replayed
    with torch.no_grad():  # an in-place update (what the optimizer and a weight sync do) keeps the graphs
        engine.model.lm_head.weight.mul_(1.0)
    engine.generate(MANY[:1], SamplingParams(n=2, temperature=0.0, max_tokens=8))
    assert step.captures == before
    norm = engine.model.model.norm
    norm.weight = torch.nn.Parameter(norm.weight.detach().clone())  # a swapped tensor: new address
    assert weights_fingerprint(engine.model) != fingerprint
    engine.generate(MANY[:1], SamplingParams(n=2, temperature=0.0, max_tokens=8))
    assert step.captures > before


def test_the_recipe_accepts_only_known_captures():
    from pydantic import ValidationError

    from grpo.config import RolloutConfig

    assert RolloutConfig().capture == "torch_compile"
    assert RolloutConfig(capture="cuda_graph").capture == "cuda_graph"
    with pytest.raises(ValidationError, match="capture"):
        RolloutConfig(capture="graphs")


def test_a_failed_capture_falls_back_to_eager_with_the_same_samples():
    """A model the capture cannot record (here: the stand-in raises after its warm-up ran) must leave
    the cache as it found it, so the eager fallback samples what the plain path samples."""

    class Failing(EagerCapture):
        def capture(self, step):
            raise RuntimeError("operation not permitted when stream is capturing")

    plain = small_engine(static_cache=True, batch_bucket=4, length_bucket=16, compact=True).generate(MANY, PARAMS)
    engine = small_engine(static_cache=True, batch_bucket=4, length_bucket=16, compact=True)
    engine._step = GraphedDecode(engine._decode, engine.model, backend=Failing())
    with pytest.warns(UserWarning, match="compiled decoding failed"):
        fallback = engine.generate(MANY, PARAMS)
    assert engine._step == engine._decode
    assert [c.completion_ids for c in plain] == [c.completion_ids for c in fallback]
