"""Learner pieces that need no Ray: the learning-rate schedule, one update on the tiny base."""

import math

import pytest
import torch

from grpo.batch import build_batch
from grpo.data import R1_ZERO_TEMPLATE
from grpo.config import TrainerConfig, recipe_from_dict
from grpo.learner import Learner, lr_factor, quiet_transformers
from grpo.rollout.base import SamplingParams
from tests.conftest import minimal_recipe


def test_actors_turn_off_tokenizer_threads_themselves(monkeypatch):
    """Learners and rollout workers on a joined cluster do not inherit the driver's environment."""
    import os

    monkeypatch.delenv("TOKENIZERS_PARALLELISM", raising=False)
    quiet_transformers()
    assert os.environ["TOKENIZERS_PARALLELISM"] == "false"


def test_lr_schedules():
    constant = TrainerConfig(steps=10, warmup_steps=2)
    assert [lr_factor(s, constant) for s in range(4)] == [0.5, 1.0, 1.0, 1.0]
    linear = TrainerConfig(steps=10, warmup_steps=2, lr_schedule="linear")
    assert lr_factor(2, linear) == 1.0 and lr_factor(6, linear) == pytest.approx(0.5) and lr_factor(10, linear) == 0.0
    cosine = TrainerConfig(steps=10, lr_schedule="cosine")
    assert lr_factor(5, cosine) == pytest.approx(0.5 * (1 + math.cos(math.pi * 0.5)))


@pytest.mark.parametrize("extra", [
    {},
    {"trainer": {"epochs_per_step": 2, "minibatch_size": 8, "microbatch_size": 4}},
    {"model": {"lora": {"enabled": True, "r": 4}}, "algorithm": {"beta": 0.1}, "trainer": {"learning_rate": 1e-3}},
])
def test_update_increases_logprob_of_positive_advantage(tmp_path, tiny_base, extra):
    recipe = recipe_from_dict(minimal_recipe(tmp_path, trainer={"learning_rate": 2e-5, **extra.get("trainer", {})},
                                             **{k: v for k, v in extra.items() if k != "trainer"}))
    learner = Learner(recipe, threads=1)
    prompts = [R1_ZERO_TEMPLATE.format(prompt=f"What is {a} + 34?") for a in (12, 55, 71, 90)]
    out = learner.generate(prompts, SamplingParams(n=8, max_tokens=8, seed=0))
    distinct = list({tuple(c.prompt_ids + c.completion_ids): c for c in out}.values())[:16]
    assert len(distinct) == 16
    batch = build_batch(distinct, learner.pad_token_id())
    batch.advantages = torch.tensor([1.0, -1.0] * 8)
    if recipe.algorithm.beta > 0:
        batch.ref_logprobs = learner.reference_logprobs(batch)
    before = learner._logprobs(learner.scorer, batch)
    metrics = learner.train_step(batch, step=0)
    after = learner._logprobs(learner.scorer, batch)
    gain = ((after - before) * batch.completion_mask).sum(1)
    # the surrogate's direction: advantage-weighted log-likelihood rises
    assert float((batch.advantages * gain).sum()) > 0
    if not extra:  # one plain update: favoured samples up, disfavoured down, each on average
        assert gain[0::2].mean() > 0 > gain[1::2].mean()
    assert metrics["train/grad_norm"] > 0 and math.isfinite(metrics["train/loss"])
    if recipe.algorithm.beta > 0:
        assert "train/kl" in metrics
    if recipe.trainer.epochs_per_step > 1:
        assert metrics["rollout/logprob_gap"] < 1e-4  # the colocated sampler is the trainer's model


def test_token_budgeted_microbatches_give_the_same_update(tmp_path, tiny_base):
    """Rows sorted and packed by a token budget instead of a fixed count, or each micro-batch packed
    into one padding-free sequence: the same loss and the same accumulated gradient (compared before
    the optimizer, which would magnify rounding in tiny ones)."""
    results = []
    for trainer in ({"microbatch_size": 4}, {"microbatch_tokens": 400}, {"microbatch_size": 4, "packing": True},
                    {"microbatch_tokens": 150, "packing": True}):  # the packed budget counts real tokens
        recipe = recipe_from_dict(minimal_recipe(tmp_path, trainer={"learning_rate": 1e-3, **trainer},
                                                 model={"dtype": "float32"}))
        torch.manual_seed(0)
        learner = Learner(recipe, threads=1)
        prompts = [R1_ZERO_TEMPLATE.format(prompt=f"What is {a} + 34?") for a in (12, 55, 71, 90)]
        batch = build_batch(learner.generate(prompts, SamplingParams(n=4, max_tokens=12, seed=3)), learner.pad_token_id())
        batch.advantages = torch.linspace(-1.0, 2.0, len(batch))
        grads = []
        learner.optimizer.step = lambda: grads.append(torch.cat([p.grad.reshape(-1) for p in learner.model.parameters()]))
        metrics = learner.train_step(batch, step=0)
        results.append((metrics["train/loss"], grads[0]))
    (loss_rows, grad_rows), *others = results
    assert abs(loss_rows) > 1e-3 and grad_rows.abs().max() > 1e-3
    (loss_tokens, grad_tokens), *packed = others
    assert loss_tokens == pytest.approx(loss_rows, rel=1e-5)
    assert torch.allclose(grad_rows, grad_tokens, rtol=1e-4, atol=1e-7)
    for loss_packed, grad_packed in packed:
        # packed: attention runs per row instead of masked over the batch, so fp32 rounding differs a little
        assert loss_packed == pytest.approx(loss_rows, rel=1e-5)
        assert float((grad_packed - grad_rows).norm() / grad_rows.norm()) < 1e-5


def test_a_non_finite_gradient_skips_the_grpo_update(tmp_path, tiny_base):
    recipe = recipe_from_dict(minimal_recipe(tmp_path, trainer={"learning_rate": 1e-3}))
    learner = Learner(recipe, threads=1)
    prompts = [R1_ZERO_TEMPLATE.format(prompt=f"What is {a} + 34?") for a in (12, 55)]
    batch = build_batch(learner.generate(prompts, SamplingParams(n=4, max_tokens=8, seed=0)), learner.pad_token_id())
    batch.advantages = torch.linspace(-1.0, 1.0, len(batch))
    weights = [p.detach().clone() for p in learner.model.parameters()]
    hook = next(learner.model.parameters()).register_hook(lambda grad: torch.full_like(grad, float("inf")))
    metrics = learner.train_step(batch, step=0)
    hook.remove()
    assert metrics["train/skipped_updates"] == 1.0 and metrics["train/all_skipped"] == 1.0
    assert "train/grad_norm" not in metrics
    assert all(torch.equal(a, b.detach()) for a, b in zip(weights, learner.model.parameters()))


def test_the_learners_forward_and_backward_run_without_cudnn_attention(tmp_path, tiny_base, monkeypatch):
    """Both halves: with gradient checkpointing the backward recomputes attention and picks a
    kernel again, so guarding the forward alone would not keep cuDNN's backward out."""
    import contextlib

    import grpo.learner as learner_module

    seen = []

    @contextlib.contextmanager
    def recording(device):
        seen.append("enter")
        yield
        seen.append("exit")

    monkeypatch.setattr(learner_module, "training_attention", recording)
    recipe = recipe_from_dict(minimal_recipe(tmp_path, trainer={"learning_rate": 1e-3}))
    learner = Learner(recipe, threads=1)
    prompts = [R1_ZERO_TEMPLATE.format(prompt=f"What is {a} + 34?") for a in (12, 55)]
    batch = build_batch(learner.generate(prompts, SamplingParams(n=2, max_tokens=6, seed=0)), learner.pad_token_id())
    batch.advantages = torch.linspace(-1.0, 1.0, len(batch))
    calls = []
    backward = torch.Tensor.backward
    monkeypatch.setattr(torch.Tensor, "backward", lambda self, *a, **k: (calls.append(len(seen) % 2), backward(self, *a, **k))[1])
    learner.train_step(batch, step=0)
    learner.sft_step(batch, step=1)
    assert calls == [1, 1]  # each backward ran inside the guard (an odd count of events: entered, not left)
    assert seen.count("enter") == seen.count("exit") == 4  # two forwards and two backwards


def test_the_optimizer_steps_peak_is_reported_apart_from_forward_and_backward(tmp_path, tiny_base):
    """A fake allocation counter (the GPU's is not here): 3 GiB during backward, 7 during the
    optimizer's step; each phase reports its own, the step the higher."""
    from grpo.phase_memory import GIB, PhasePeaks

    recipe = recipe_from_dict(minimal_recipe(tmp_path, trainer={"learning_rate": 1e-3, "microbatch_size": 4}))
    learner = Learner(recipe, threads=1)
    prompts = [R1_ZERO_TEMPLATE.format(prompt=f"What is {a} + 34?") for a in (12, 55)]
    batch = build_batch(learner.generate(prompts, SamplingParams(n=4, max_tokens=8, seed=0)), learner.pad_token_id())
    batch.advantages = torch.linspace(-1.0, 1.0, len(batch))
    high = {"gib": 0.0}
    learner.peaks = PhasePeaks(lambda: high["gib"] * GIB, lambda: high.update(gib=1.0))
    hook = next(learner.model.parameters()).register_hook(lambda grad: high.update(gib=max(high["gib"], 3.0)) or grad)
    step = learner.optimizer.step
    learner.optimizer.step = lambda: (high.update(gib=max(high["gib"], 7.0)), step())
    metrics = learner.train_step(batch, step=0)
    hook.remove()
    assert metrics["memory/train_peak_gib"] == 3.0 and metrics["memory/optimizer_peak_gib"] == 7.0
    assert metrics["memory/peak_gib"] == 7.0
