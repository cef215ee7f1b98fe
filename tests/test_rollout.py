"""The transformers engine and sampling: determinism, stops, lengths, sampler log-probs."""

import pytest
import torch

from grpo.policy import completion_logprobs
from grpo.rollout.base import SamplingParams
from grpo.rollout.hf_engine import TransformersEngine
from grpo.rollout.sampling import sample_tokens, top_p_filter


def test_top_p_keeps_smallest_set_reaching_mass():
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]]))
    kept = torch.isfinite(top_p_filter(logits, 0.7))
    assert kept.tolist() == [[True, True, False, False]]
    assert torch.isfinite(top_p_filter(logits, 0.5)).tolist() == [[True, False, False, False]]
    assert torch.isfinite(top_p_filter(logits, 1.0)).all()


def test_sample_tokens_greedy_and_distribution():
    logits = torch.log(torch.tensor([[0.1, 0.6, 0.3]]))
    tokens, logprobs = sample_tokens(logits, 0.0, 1.0, None)
    assert tokens.tolist() == [1] and logprobs.item() == pytest.approx(torch.tensor(0.6).log().item(), abs=1e-6)
    generator = torch.Generator().manual_seed(0)
    draws = torch.cat([sample_tokens(logits.expand(1000, 3), 1.0, 1.0, generator)[0] for _ in range(10)])
    freq = torch.bincount(draws, minlength=3).float() / len(draws)
    assert torch.allclose(freq, torch.tensor([0.1, 0.6, 0.3]), atol=0.02)


@pytest.fixture(scope="module")
def engine():
    from grpo.config import ModelConfig
    from grpo.policy import load_model, load_tokenizer
    from tests.conftest import TINY_BASE

    config = ModelConfig(path=str(TINY_BASE))
    model = load_model(config, torch.device("cpu"), trainable=False)
    return TransformersEngine(model, load_tokenizer(config))


from grpo.data import R1_ZERO_TEMPLATE

PROMPTS = [R1_ZERO_TEMPLATE.format(prompt="What is 123 + 456?"), R1_ZERO_TEMPLATE.format(prompt="What is 7 + 8?")]


def test_same_seed_same_samples_other_seed_differs(engine):
    params = SamplingParams(n=3, temperature=1.0, max_tokens=12, seed=5)
    a = engine.generate(PROMPTS, params)
    b = engine.generate(PROMPTS, params)
    c = engine.generate(PROMPTS, SamplingParams(n=3, temperature=1.0, max_tokens=12, seed=6))
    assert [x.completion_ids for x in a] == [x.completion_ids for x in b]
    assert [x.completion_ids for x in a] != [x.completion_ids for x in c]
    assert [x.prompt_index for x in a] == [0, 0, 0, 1, 1, 1]


def test_max_tokens_gives_length_finish(engine):
    out = engine.generate(PROMPTS, SamplingParams(n=2, max_tokens=3, seed=0))
    for completion in out:
        assert len(completion.completion_ids) <= 3
        if len(completion.completion_ids) == 3 and completion.completion_ids[-1] not in engine.eos_ids:
            assert completion.finish_reason == "length"


def test_stop_string_is_kept_and_ends_the_completion(engine):
    out = engine.generate(PROMPTS, SamplingParams(n=4, max_tokens=64, stop=("</answer>",), seed=1))
    stopped = [c for c in out if c.finish_reason == "stop"]
    assert stopped, "the tiny base should close its answers within 64 tokens"
    for completion in stopped:
        assert completion.text.endswith("</answer>") or completion.completion_ids[-1] in engine.eos_ids
        assert completion.text.count("</answer>") <= 1


def test_multi_token_stop_string_is_matched_in_text(engine):
    out = engine.generate(PROMPTS[:1], SamplingParams(n=4, max_tokens=60, stop=("So the",), seed=2))
    hits = [c for c in out if "So the" in c.text]
    assert hits
    for completion in hits:
        assert completion.text.endswith("So the") and completion.finish_reason == "stop"


def test_sampler_logprobs_match_trainer_logprobs(engine):
    out = engine.generate(PROMPTS, SamplingParams(n=2, temperature=0.8, max_tokens=10, seed=3))
    for completion in out:
        ids = torch.tensor([completion.prompt_ids + completion.completion_ids])
        trainer, _ = completion_logprobs(engine.model, ids, torch.ones_like(ids), len(completion.completion_ids), temperature=0.8)
        assert torch.allclose(trainer[0], torch.tensor(completion.logprobs), atol=1e-4)


def test_greedy_is_batch_independent(engine):
    params = SamplingParams(n=1, temperature=0.0, max_tokens=20)
    together = engine.generate(PROMPTS, params)
    alone = [engine.generate([p], params)[0] for p in PROMPTS]
    assert [c.completion_ids for c in together] == [c.completion_ids for c in alone]


def test_static_cache_path_matches_dynamic(engine):
    """The GPU path's static cache, bucketing and in-place mask give the same tokens (run on CPU)."""
    bucketed = TransformersEngine(engine.model, engine.tokenizer, static_cache=True, batch_bucket=4, length_bucket=16)
    # filler rows of a batch bucket consume random draws, so sampled outputs are compared unbucketed
    unbucketed = TransformersEngine(engine.model, engine.tokenizer, static_cache=True, batch_bucket=1, length_bucket=16)
    cases = ((bucketed, SamplingParams(n=3, temperature=0.0, max_tokens=20)),
             (unbucketed, SamplingParams(n=3, temperature=1.0, max_tokens=20, seed=4)))
    for static, params in cases:
        a, b = engine.generate(PROMPTS, params), static.generate(PROMPTS, params)
        assert [c.completion_ids for c in a] == [c.completion_ids for c in b]
        for x, y in zip(a, b):
            assert torch.allclose(torch.tensor(x.logprobs), torch.tensor(y.logprobs), atol=1e-4)


def test_ignore_eos_generates_exactly_max_tokens(engine):
    out = engine.generate(PROMPTS, SamplingParams(n=2, max_tokens=70, ignore_eos=True, seed=0))
    assert all(len(c.completion_ids) == 70 and c.finish_reason == "length" for c in out)


def test_inverse_cdf_sampling_uses_the_given_uniforms():
    logits = torch.log(torch.tensor([[0.1, 0.6, 0.3]])).expand(4, 3)
    tokens, logprobs = sample_tokens(logits, 1.0, 1.0, None, torch.tensor([0.05, 0.1, 0.69, 0.95]))
    assert tokens.tolist() == [0, 1, 1, 2]  # cumulative 0.1, 0.7, 1.0
    assert torch.allclose(logprobs, torch.log(torch.tensor([0.1, 0.6, 0.6, 0.3])), atol=1e-6)
    zero = torch.tensor([[0.0, 1.0, float("-inf")]])  # a zero-probability token is never picked
    assert sample_tokens(zero, 1.0, 1.0, None, torch.tensor([0.9999999]))[0].tolist() == [1]


def small_engine(**options):
    from grpo.config import ModelConfig
    from grpo.policy import load_model, load_tokenizer
    from tests.conftest import TINY_BASE

    config = ModelConfig(path=str(TINY_BASE))
    return TransformersEngine(load_model(config, torch.device("cpu"), trainable=False), load_tokenizer(config), **options)


MANY = [R1_ZERO_TEMPLATE.format(prompt=f"What is {a} + {b}?") for a, b in ((123, 456), (7, 8), (999, 1), (50, 50))]


@pytest.mark.parametrize("static", [False, True])
def test_dropping_finished_rows_changes_no_sample(static):
    """Compaction is invisible: the same completions and sampler log-probs with and without it (the
    static-cache path is the GPU one, run here on CPU without compilation)."""
    params = SamplingParams(n=4, temperature=1.0, max_tokens=90, seed=3, stop=("</answer>",))
    options = dict(static_cache=static, batch_bucket=4, length_bucket=16)
    compacted, full = small_engine(compact=True, **options), small_engine(compact=False, **options)
    a, b = compacted.generate(MANY, params), full.generate(MANY, params)
    assert [c.completion_ids for c in a] == [c.completion_ids for c in b]
    lengths = {len(c.completion_ids) for c in a}
    assert len(lengths) > 3  # rows finished at different steps, so rows really were dropped
    for x, y in zip(a, b):
        assert x.finish_reason == y.finish_reason and x.text == y.text
        assert torch.allclose(torch.tensor(x.logprobs), torch.tensor(y.logprobs), atol=1e-5)


def test_min_tokens_defers_every_stop(engine):
    free = engine.generate(PROMPTS, SamplingParams(n=4, max_tokens=80, seed=1, stop=("</answer>",)))
    assert min(len(c.completion_ids) for c in free) < 60
    held = engine.generate(PROMPTS, SamplingParams(n=4, max_tokens=80, seed=1, stop=("</answer>",), min_tokens=60))
    assert all(len(c.completion_ids) >= 60 for c in held)  # neither EOS nor the stop string ended one early


def test_kv_bytes_per_token_by_hand():
    from transformers import DeepseekV3Config, Qwen2Config

    from grpo.rollout.hf_engine import kv_bytes_per_token

    qwen = Qwen2Config(hidden_size=64, num_hidden_layers=3, num_attention_heads=4, num_key_value_heads=2)
    assert kv_bytes_per_token(qwen, 2) == 3 * 2 * (16 + 16) * 2  # layers x kv heads x (k + v dims) x bytes
    # Qwen2.5-1.5B in bf16: 28 layers, 2 kv heads of 128: 28 KiB a token
    big = Qwen2Config(hidden_size=1536, num_hidden_layers=28, num_attention_heads=12, num_key_value_heads=2)
    assert kv_bytes_per_token(big, 2) == 28 * 1024
    mla = DeepseekV3Config(num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=4,
                           qk_nope_head_dim=8, qk_rope_head_dim=4, v_head_dim=8)
    assert kv_bytes_per_token(mla, 4) == 2 * 4 * ((8 + 4) + 8) * 4


def test_auto_batch_rows_fills_a_quarter_of_memory_within_bounds():
    from grpo.rollout.hf_engine import auto_batch_rows

    # 141 GB H200, 1.5B bf16, 256 prompt + 1024 completion tokens: 35.25e9 // (28672 * 1280) = 960 rows
    assert auto_batch_rows(141 * 10**9, 28 * 1024, 1280) == 960
    assert auto_batch_rows(10**6, 28 * 1024, 1280) == 16  # never below the floor
    assert auto_batch_rows(10**15, 1, 1) == 4096  # nor above the ceiling


def test_engine_batch_size_splits_the_rows_without_changing_greedy_outputs(engine, monkeypatch):
    from grpo.rollout.hf_engine import TransformersEngine as Engine

    params = SamplingParams(n=3, temperature=0.0, max_tokens=8)
    sizes = []
    original = Engine._generate_batch

    def spy(self, rows, *args):
        sizes.append(len(rows))
        return original(self, rows, *args)

    monkeypatch.setattr(Engine, "_generate_batch", spy)
    whole = engine.generate(PROMPTS, params)
    assert sizes == [6]  # CPU default: up to 256 rows together
    split = Engine(engine.model, engine.tokenizer, batch_size=4)
    sizes.clear()
    parts = split.generate(PROMPTS, params)
    assert sizes == [4, 2]
    assert [c.completion_ids for c in parts] == [c.completion_ids for c in whole]


def test_recipe_engine_batch_size_reaches_the_engine(engine, tmp_path):
    from grpo.config import recipe_from_dict
    from grpo.rollout.hf_engine import build_transformers_engine
    from tests.conftest import minimal_recipe

    recipe = recipe_from_dict(minimal_recipe(tmp_path, rollout={"engine_batch_size": 48}))
    assert build_transformers_engine(recipe, engine.tokenizer, model=engine.model, colocated=True).batch_size == 48


def test_liger_with_the_compiled_decode_step_warns_and_other_captures_do_not(engine, tmp_path):
    import warnings

    from grpo.config import recipe_from_dict
    from grpo.rollout.hf_engine import build_transformers_engine
    from tests.conftest import minimal_recipe

    def build(**rollout):
        recipe = recipe_from_dict(minimal_recipe(tmp_path, model={"liger_kernel": True}, rollout=rollout))
        return build_transformers_engine(recipe, engine.tokenizer, model=engine.model, colocated=True)

    with pytest.warns(UserWarning, match="liger_kernel.*torch_compile"):
        build()  # rollout.compile and capture=torch_compile are the defaults
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        build(capture="cuda_graph")
        build(compile=False)


def test_the_cache_goes_by_the_name_the_models_forward_takes(engine):
    """transformers 5.2x renamed `past_key_values` to `cache` (the old name warns, then goes away);
    a model whose forward knows only the old name still gets it."""
    import inspect
    import warnings

    from grpo.rollout.hf_engine import cache_kwarg

    expected = "cache" if "cache" in inspect.signature(type(engine.model).forward).parameters else "past_key_values"
    assert engine.cache_kwarg == expected

    class OldStyle(torch.nn.Module):
        def forward(self, input_ids=None, past_key_values=None, use_cache=None):
            return input_ids

    assert cache_kwarg(OldStyle()) == "past_key_values"
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)  # no deprecated keyword on the way
        engine.generate(PROMPTS[:1], SamplingParams(n=2, temperature=0.0, max_tokens=4))
