"""The reward_model verifier: a sequence-classification model built here (random weights, the tiny
base's tokenizer) scores (prompt, completion) pairs; different weights give different scores and
the batch size never changes a score."""

import math

import pytest
import torch

from rewards import Sample, VerifierError, build
from tests.conftest import TINY_BASE

SAMPLES = [
    Sample("What is 1 + 2?", " <think> 1+2=3 </think> <answer> 3 </answer>"),
    Sample("What is 10 + 20?", " <answer> 30 </answer>"),
    Sample("What is 123 + 456?", " <think> 3+6=9; 2+5=7; 1+4=5. So the answer is 579 </think> <answer> 579 </answer>"),
    Sample("hi", " hello"),
    Sample([{"role": "user", "content": "What is 2 + 2?"}], " 4"),
]


def reward_model(directory, seed: int, num_labels: int = 1):
    from transformers import AutoTokenizer, Qwen2Config, Qwen2ForSequenceClassification

    torch.manual_seed(seed)
    tokenizer = AutoTokenizer.from_pretrained(TINY_BASE)
    config = Qwen2Config(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, num_labels=num_labels,
                         pad_token_id=tokenizer.pad_token_id, max_position_embeddings=256)
    Qwen2ForSequenceClassification(config).save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return str(directory)


def scores(path, **kwargs):
    return [r.value for r in build("reward_model", {"path": path, **kwargs})(SAMPLES)]


def test_scores_are_finite_and_depend_on_the_weights(tmp_path):
    first = scores(reward_model(tmp_path / "a", seed=0))
    second = scores(reward_model(tmp_path / "b", seed=1))
    assert all(math.isfinite(v) for v in first + second)
    assert len(set(round(v, 6) for v in first)) > 1  # it reads the text
    assert max(abs(a - b) for a, b in zip(first, second)) > 1e-3


def test_the_batch_size_never_changes_a_score(tmp_path):
    path = reward_model(tmp_path / "rm", seed=0)
    one, three, all_ = scores(path, batch_size=1), scores(path, batch_size=3), scores(path, batch_size=8)
    assert one == pytest.approx(three, abs=1e-5) and one == pytest.approx(all_, abs=1e-5)


def test_the_score_is_the_models_own_output_for_the_text(tmp_path):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    path = reward_model(tmp_path / "rm", seed=3)
    model = AutoModelForSequenceClassification.from_pretrained(path).eval()
    tokenizer = AutoTokenizer.from_pretrained(path)
    ids = tokenizer(SAMPLES[2].prompt + SAMPLES[2].completion, return_tensors="pt", add_special_tokens=False)
    with torch.no_grad():
        expected = float(model(**ids).logits[0, 0])
    assert scores(path, device="cpu", dtype="float32")[2] == pytest.approx(expected, abs=1e-5)
    assert scores(path, normalize="sigmoid", device="cpu", dtype="float32")[2] == pytest.approx(1 / (1 + math.exp(-expected)), abs=1e-6)


def test_several_labels_give_the_probability_of_one(tmp_path):
    path = reward_model(tmp_path / "rm2", seed=0, num_labels=2)
    good, bad = scores(path), scores(path, label=0)
    assert all(0 < v < 1 for v in good) and good == pytest.approx([1 - v for v in bad], abs=1e-6)
    with pytest.raises(VerifierError, match="label must be in 0..1"):
        build("reward_model", {"path": path, "label": 2})
