"""The verifier interface: shapes, TRL-style calls, results, combination."""

import pytest

from rewards import Sample, VerifierResult, verifier
from rewards.base import as_batched, shape_of
from rewards.combine import combine, verifier_means


def per_sample(sample, scale=1.0):
    return len(sample.completion) * scale


@verifier(batched=True)
def batched(samples):
    return [VerifierResult(1.0, {"n": len(samples)}) for _ in samples]


def trl_style(prompts, completions, answer, **kwargs):
    return [None if a is None else float(c == a) for c, a in zip(completions, answer)]


def trl_chat(completions, **kwargs):
    return [float(c[0]["content"] == "hi") for c in completions]


class Scaled:
    def __init__(self, factor):
        self.factor = factor

    def __call__(self, sample):
        return self.factor


def test_shapes_detected():
    assert shape_of(per_sample) == "sample"
    assert shape_of(batched) == "batched"
    assert shape_of(trl_style) == "trl" and shape_of(trl_chat) == "trl"
    assert shape_of(Scaled) == "sample"


def test_per_sample_and_batched_calls():
    samples = [Sample("p", "abc"), Sample("p", "de")]
    assert [r.value for r in as_batched(per_sample, {"scale": 2.0})(samples)] == [6.0, 4.0]
    assert [r.details for r in as_batched(batched, {})(samples)] == [{"n": 2}, {"n": 2}]


def test_trl_style_receives_strings_for_text_and_messages_for_chat():
    text = [Sample("p", "4", answer="4"), Sample("p", "5", answer=None)]
    assert [r.value for r in as_batched(trl_style, {})(text)] == [1.0, None]
    chat_prompt = [{"role": "user", "content": "say hi"}]
    chat = [Sample(chat_prompt, "hi"), Sample(chat_prompt, "bye")]
    assert [r.value for r in as_batched(trl_chat, {})(chat)] == [1.0, 0.0]


def test_trl_style_gets_every_column():
    seen = {}

    def spy(prompts, completions, **columns):
        seen.update(columns)
        return [0.0] * len(completions)

    as_batched(spy, {})([Sample("p", "c", answer="1", columns={"numbers": [1, 2], "target": 3})])
    assert seen["numbers"] == [[1, 2]] and seen["target"] == [3] and seen["answer"] == ["1"]


def test_bad_return_values():
    with pytest.raises(TypeError, match="return a float"):
        as_batched(lambda sample: "yes", {})([Sample("p", "c")])
    with pytest.raises(ValueError, match="returned 1 scores for 2"):
        as_batched(lambda prompts, completions: [1.0], {})([Sample("p", "a"), Sample("p", "b")])


def test_combine_skips_or_zeroes_none():
    results = [[VerifierResult(1.0), VerifierResult(None)], [VerifierResult(0.5), VerifierResult(0.5)]]
    assert combine(["a", "b"], [1.0, 2.0], results) == [2.0, 1.0]
    assert verifier_means({"a": [1.0, None, 0.0]}) == {"a": 0.5}


# --------------------------------------------------------------------------- verl and OpenRLHF, unchanged


def verl_compute_score(data_source, solution_str, ground_truth, extra_info=None):
    """Written as verl's docs show a custom reward function."""
    import re

    match = re.search(r"<answer>(.*?)</answer>", solution_str)
    score = 1.0 if match and match.group(1).strip() == ground_truth else 0.0
    return {"score": score, "acc": score, "source": data_source, "index": (extra_info or {}).get("index")}


def verl_plain(data_source, solution_str, ground_truth, extra_info=None):
    return float(ground_truth in solution_str)


def openrlhf_reward_func(queries, prompts, labels, **kwargs):
    """Written as OpenRLHF's docs show a reward function file (--remote_rm_url reward_func.py)."""
    import torch

    rewards = torch.tensor([float(q[len(p):].strip().endswith(label)) for q, p, label in zip(queries, prompts, labels)])
    return {"rewards": rewards, "scores": rewards, "extra_logs": {"dummy": torch.ones(len(queries))}}


def test_verl_compute_score_fed_from_the_row():
    samples = [
        Sample("q", "<answer>7</answer>", None, {"data_source": "arith", "reward_model": {"ground_truth": "7"},
                                              "extra_info": {"index": 3}}),
        Sample("q", "<answer>8</answer>", "7", {"data_source": "arith"}),  # a mapped answer wins
    ]
    assert shape_of(verl_compute_score) == "verl"
    results = as_batched(verl_compute_score, {})(samples)
    assert [r.value for r in results] == [1.0, 0.0]
    assert results[0].details == {"acc": 1.0, "source": "arith", "index": 3}
    assert [r.value for r in as_batched(verl_plain, {})(samples)] == [1.0, 0.0]


def test_openrlhf_reward_func_gets_queries_prompts_labels():
    samples = [Sample("Q1:", " so 12", "12"), Sample("Q2:", " so 13", "14")]
    assert shape_of(openrlhf_reward_func) == "openrlhf"
    results = as_batched(openrlhf_reward_func, {})(samples)
    assert [r.value for r in results] == [1.0, 0.0]
    assert results[0].details == {"scores": 1.0, "extra_logs.dummy": 1.0}


def test_a_signature_matching_no_shape_is_a_recipe_error_listing_the_shapes():
    from rewards.base import VerifierError
    from rewards.registry import check_signature

    def two_required(text, reference):
        return 0.0

    with pytest.raises(VerifierError) as err:
        check_signature("f.py:two_required", two_required, {})
    message = str(err.value)
    assert "['reference']" in message and "verl: def compute_score(data_source, solution_str" in message
    assert "OpenRLHF: def reward_func(queries, prompts, labels" in message
    check_signature("ok", two_required, {"reference": "x"})  # filled by the recipe's kwargs: fine
    check_signature("ok", verl_compute_score, {})
