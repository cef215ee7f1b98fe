"""Recipe options end to end: separate rollout actors with weight sync, LoRA + KL + dynamic sampling."""

from __future__ import annotations

import torch

from grpo.logging import read_metrics
from tests.e2e.test_train import small_recipe


def test_separate_rollout_workers_receive_the_updated_weights(tmp_path, ray_cluster):
    import ray

    from grpo.batch import build_batch
    from grpo.cluster import start_actors
    from grpo.policy import completion_logprobs
    from grpo.rollout.base import SamplingParams
    from grpo.trainer import sync_weights
    from grpo.data import R1_ZERO_TEMPLATE

    recipe = small_recipe(tmp_path, "split", "rollout.colocate=false", "rollout.num_workers=2", "trainer.learning_rate=1e-3")
    actors = start_actors(recipe)
    prompts = [R1_ZERO_TEMPLATE.format(prompt="What is 123 + 456?")]
    params = SamplingParams(n=8, max_tokens=12, temperature=1.0, seed=0)
    completions = ray.get(actors.rollouts[0].generate.remote(prompts, params))
    batch = build_batch(completions, ray.get(actors.learner.pad_token_id.remote()))
    batch.advantages = torch.linspace(-1, 1, len(batch))
    ray.get(actors.learner.train_step.remote(batch, 0))
    # before the sync the rollout actors still sample from the old policy
    stale = ray.get(actors.rollouts[1].generate.remote(prompts, params))
    assert [c.logprobs for c in stale] == [c.logprobs for c in completions]
    sync_weights(recipe, actors)
    fresh = ray.get(actors.rollouts[1].generate.remote(prompts, params))
    assert [c.logprobs for c in fresh] != [c.logprobs for c in stale]
    # the trainer's log-probs of what the rollout actor sampled equal the sampler's own
    state = ray.get(actors.learner.export_weights.remote())
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(recipe.model.path).eval()
    model.load_state_dict(state, strict=False)
    for completion in fresh:
        ids = torch.tensor([completion.prompt_ids + completion.completion_ids])
        with torch.no_grad():
            logp, _ = completion_logprobs(model, ids, torch.ones_like(ids), len(completion.completion_ids))
        assert torch.allclose(logp[0], torch.tensor(completion.logprobs), atol=1e-4)
    for actor in [actors.learner, *actors.rollouts, *actors.rewards]:
        ray.kill(actor)


def test_lora_kl_dynamic_sampling_and_epochs(tmp_path, ray_cluster):
    from transformers import AutoModelForCausalLM

    from grpo.trainer import train

    recipe = small_recipe(
        tmp_path, "opts", "model.lora.enabled=true", "model.lora.r=4", "algorithm.beta=0.04",
        "algorithm.kl_estimator=k3", "algorithm.dynamic_sampling.enabled=true", "algorithm.overlong_filtering=true",
        "algorithm.epsilon_high=0.28", "trainer.epochs_per_step=2", "trainer.minibatch_size=16",
        "trainer.microbatch_size=8", "trainer.steps=2", "checkpoint.every_steps=1",
    )
    summary = train(recipe)
    steps = [m for m in read_metrics(tmp_path / "opts") if "reward/mean" in m]
    assert len(steps) == 2
    for m in steps:
        assert m["groups/informative"] == 1.0  # dynamic sampling kept only groups with a signal
        assert m["train/kl"] >= 0.0
    assert steps[1]["train/kl"] > 0.0  # after one update the policy has left the reference
    checkpoint = summary.last_checkpoint
    assert (checkpoint / "adapter" / "adapter_model.safetensors").exists()
    merged = AutoModelForCausalLM.from_pretrained(checkpoint / "model")
    base = AutoModelForCausalLM.from_pretrained(recipe.model.path)
    changed = [n for n, p in merged.state_dict().items() if not torch.equal(p, base.state_dict()[n])]
    assert changed and all("proj" in n for n in changed)  # only LoRA-adapted projections moved
