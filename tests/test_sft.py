"""Supervised fine-tuning: examples tokenised with the stage's own tokenizer (prompt masked, EOS
appended), the batch plan, the loss against a hand computation, and the learner's SFT step."""

import pytest
import torch

from grpo import algorithms
from grpo.config import recipe_from_dict
from grpo.data import DataError, render_prompt
from grpo.sft import batch_plan, encode_examples, sft_batch
from tests.conftest import TINY_BASE, minimal_recipe


@pytest.fixture(scope="module")
def tokenizer():
    from grpo.policy import load_tokenizer

    return load_tokenizer(recipe_from_dict(minimal_recipe(TINY_BASE)).model)


ROWS = [{"prompt": "What is 1 + 2?", "completion": " <think> 1+2=3 </think> <answer> 3 </answer>"},
        {"prompt": "What is 40 + 2?", "completion": " <answer> 42 </answer>"}]


def test_examples_are_the_rendered_prompt_then_the_completion_and_eos(tmp_path, tokenizer):
    recipe = recipe_from_dict(minimal_recipe(tmp_path))
    examples, dropped = encode_examples(ROWS, recipe, tokenizer)
    assert dropped == 0
    prompt = render_prompt(ROWS[0]["prompt"], recipe.data, tokenizer)
    assert examples[0].prompt_ids == tokenizer(prompt, add_special_tokens=False)["input_ids"]
    assert examples[0].completion_ids[-1] == tokenizer.eos_token_id
    assert tokenizer.decode(examples[0].completion_ids[:-1]) == ROWS[0]["completion"]


def test_the_loss_covers_completion_tokens_only(tmp_path, tokenizer):
    recipe = recipe_from_dict(minimal_recipe(tmp_path))
    examples, _ = encode_examples(ROWS, recipe, tokenizer)
    batch = sft_batch(examples, tokenizer.pad_token_id)
    assert batch.completion_mask.sum(dim=1).tolist() == [len(e.completion_ids) for e in examples]
    # the completion block of every row holds exactly the completion ids
    width = batch.prompt_width
    for row, example in enumerate(examples):
        assert batch.input_ids[row, width : width + len(example.completion_ids)].tolist() == example.completion_ids


def test_a_student_with_another_tokenizer_gets_its_own_ids(tmp_path, tokenizer):
    """Distillation re-tokenises text: the same rows under a character-level tokenizer give that
    tokenizer's ids, never the teacher's."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    chars = sorted(set("".join(r["prompt"] + r["completion"] for r in ROWS) + render_prompt("x", recipe_from_dict(
        minimal_recipe(tmp_path)).data, None)))
    vocab = {"<eos>": 0, **{c: i + 1 for i, c in enumerate(chars)}}
    core = Tokenizer(models.WordLevel(vocab, unk_token="<eos>"))
    core.pre_tokenizer = pre_tokenizers.Split("", "isolated")
    core.decoder = decoders.Fuse()
    student = PreTrainedTokenizerFast(tokenizer_object=core, eos_token="<eos>", pad_token="<eos>")
    recipe = recipe_from_dict(minimal_recipe(tmp_path))
    teacher_ids, _ = encode_examples(ROWS, recipe, tokenizer)
    student_ids, _ = encode_examples(ROWS, recipe, student)
    completion = ROWS[1]["completion"]
    assert student_ids[1].completion_ids == [vocab[c] for c in completion] + [0]  # one id per character
    assert student_ids[1].completion_ids != teacher_ids[1].completion_ids


def test_completion_format_and_missing_column(tmp_path, tokenizer):
    recipe = recipe_from_dict(minimal_recipe(tmp_path, sft={"completion_format": " <answer> {answer} </answer>"}))
    examples, _ = encode_examples([{"prompt": "q", "answer": "7"}], recipe, tokenizer)
    assert tokenizer.decode(examples[0].completion_ids[:-1]) == " <answer> 7 </answer>"
    with pytest.raises(DataError, match="sft.completion_column = 'completion' is not a column"):
        encode_examples([{"prompt": "q", "answer": "7"}], recipe_from_dict(minimal_recipe(tmp_path)), tokenizer)
    with pytest.raises(DataError, match="sft.completion_format"):
        encode_examples([{"prompt": "q"}], recipe, tokenizer)


def test_too_long_examples_are_dropped_and_counted(tmp_path, tokenizer):
    lengths = [len(e.prompt_ids) + len(e.completion_ids) for e in encode_examples(ROWS, recipe_from_dict(
        minimal_recipe(tmp_path)), tokenizer)[0]]
    assert lengths[1] < lengths[0]
    recipe = recipe_from_dict(minimal_recipe(tmp_path, sft={"max_tokens": lengths[1]}))
    examples, dropped = encode_examples(ROWS, recipe, tokenizer)
    assert dropped == 1 and len(examples) == 1


def test_batch_plan_covers_every_example_once_per_epoch_and_is_deterministic():
    lengths = [5, 50, 7, 42, 9, 33, 11, 60, 2, 18]
    plan = batch_plan(lengths, batch_size=3, epochs=2, seed=0, group_by_length=True)
    assert plan == batch_plan(lengths, batch_size=3, epochs=2, seed=0, group_by_length=True)
    assert len(plan) == 8  # 4 batches per epoch: 3 + 3 + 3 + 1
    first_epoch = [i for batch in plan[:4] for i in batch]
    assert sorted(first_epoch) == list(range(10))
    # grouped by length: within a megabatch, each batch's rows are consecutive in length order
    for batch in plan:
        assert [lengths[i] for i in batch] == sorted([lengths[i] for i in batch], reverse=True)
    assert batch_plan(lengths, 3, 1, seed=1, group_by_length=False) != batch_plan(lengths, 3, 1, seed=2, group_by_length=False)


def test_sft_loss_is_the_token_mean_nll_of_the_completion():
    logprobs = torch.tensor([[-1.0, -2.0, -9.0], [-0.5, -9.0, -9.0]])
    mask = torch.tensor([[1.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
    assert float(algorithms.sft_loss(logprobs, mask)) == pytest.approx((1.0 + 2.0 + 0.5) / 3)
    # micro-batches normalised by the whole batch's tokens sum to the batch loss
    parts = algorithms.sft_loss(logprobs[:1], mask[:1], 3.0) + algorithms.sft_loss(logprobs[1:], mask[1:], 3.0)
    assert float(parts) == pytest.approx(3.5 / 3)


def test_the_learner_sft_step_fits_the_completions(tmp_path, tokenizer):
    from grpo.learner import Learner

    raw = minimal_recipe(tmp_path, trainer={"learning_rate": 1e-3, "microbatch_size": 1, "threads": 1, "steps": 20})
    learner = Learner(recipe_from_dict(raw))
    examples, _ = encode_examples(ROWS, learner.recipe, tokenizer)
    batch = sft_batch(examples, tokenizer.pad_token_id)
    losses = [learner.sft_step(batch, step)["train/loss"] for step in range(6)]
    assert losses[-1] < 0.5 * losses[0]
    # what the step reports is the NLL of the completion tokens under the model before the update
    first = Learner(recipe_from_dict(raw))
    with torch.no_grad():
        logp, _ = first._forward(first.scorer, batch, with_entropy=False, temperature=1.0)
    expected = float(-(logp * batch.completion_mask).sum() / batch.completion_mask.sum())
    assert first.sft_step(batch, 0)["train/loss"] == pytest.approx(expected, rel=1e-5)


def test_mask_spans_take_tool_outputs_out_of_the_loss(tmp_path, tokenizer):
    """As RL masks environment turns, SFT on tool-use traces leaves the tool's output untrained."""
    text = " <think> <python>12*34</python><output>\n408\n</output> </think> <answer> 408 </answer>"
    raw = minimal_recipe(tmp_path)
    raw["sft"] = {"mask_spans": [["<output>", "</output>"]]}
    recipe = recipe_from_dict(raw)
    [example], _ = encode_examples([{"prompt": "What is 12 * 34?", "completion": text}], recipe, tokenizer)
    masked = "".join(tokenizer.decode([t]) for t, m in zip(example.completion_ids, example.completion_mask) if m == 0)
    trained = "".join(tokenizer.decode([t]) for t, m in zip(example.completion_ids[:-1], example.completion_mask) if m)
    assert masked == "<output>\n408\n</output>"
    assert trained == " <think> <python>12*34</python> </think> <answer> 408 </answer>"
    assert example.completion_mask[-1] == 1  # EOS is trained
    batch = sft_batch([example], tokenizer.pad_token_id)
    assert batch.completion_mask[0].tolist() == [float(m) for m in example.completion_mask]
    # without mask_spans every completion token is trained, as before
    [plain], _ = encode_examples([{"prompt": "q", "completion": text}], recipe_from_dict(minimal_recipe(tmp_path)), tokenizer)
    assert plain.completion_mask is None and plain.completion_ids == example.completion_ids


def test_a_non_finite_gradient_skips_the_update_and_says_so(tmp_path, tokenizer):
    """One batch whose backward overflows (a NaN gradient) must not reach the weights: clipping by
    an infinite norm would write NaN into every one of them (seen on a bf16 student on a GPU)."""
    from grpo.learner import Learner

    raw = minimal_recipe(tmp_path, trainer={"learning_rate": 1e-3, "threads": 1, "steps": 4})
    learner = Learner(recipe_from_dict(raw))
    batch = sft_batch(encode_examples(ROWS, learner.recipe, tokenizer)[0], tokenizer.pad_token_id)
    weights = [p.detach().clone() for p in learner.model.parameters()]
    first = next(learner.model.parameters())
    hook = first.register_hook(lambda grad: torch.full_like(grad, float("nan")))
    metrics = learner.sft_step(batch, 0)
    assert metrics["train/skipped_updates"] == 1.0 and metrics["train/all_skipped"] == 1.0
    assert "train/grad_norm" not in metrics
    assert all(torch.equal(a, b.detach()) for a, b in zip(weights, learner.model.parameters()))
    hook.remove()
    metrics = learner.sft_step(batch, 1)  # the next sound batch updates as usual
    assert "train/skipped_updates" not in metrics and metrics["train/grad_norm"] > 0
    assert not torch.equal(weights[0], first.detach())
    assert all(torch.isfinite(p).all() for p in learner.model.parameters())
