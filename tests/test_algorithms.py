"""The GRPO objective against hand-computed numbers and float64 references."""

import math

import pytest
import torch

from grpo import algorithms as A


def test_grpo_advantages_hand_computed():
    # group 1: rewards 1,0,0,1 -> mean 0.5, unbiased std sqrt(1/3) = 0.57735
    # group 2: all equal -> zero advantage
    rewards = torch.tensor([1.0, 0.0, 0.0, 1.0, 2.0, 2.0, 2.0, 2.0])
    adv = A.compute_advantages(rewards, 4, "grpo", "group")
    expected = 0.5 / (math.sqrt(1 / 3) + 1e-4)
    assert adv[:4].tolist() == pytest.approx([expected, -expected, -expected, expected], rel=1e-6)
    assert adv[4:].tolist() == [0.0, 0.0, 0.0, 0.0]


def test_grpo_batch_std_and_none():
    rewards = torch.tensor([1.0, 0.0, 3.0, 3.0])
    batch_std = torch.tensor([1.0, 0.0, 3.0, 3.0], dtype=torch.float64).std().item()
    adv = A.compute_advantages(rewards, 2, "grpo", "batch")
    assert adv.tolist() == pytest.approx([0.5 / (batch_std + 1e-4), -0.5 / (batch_std + 1e-4), 0.0, 0.0], rel=1e-5)
    assert A.compute_advantages(rewards, 2, "grpo", "none").tolist() == [0.5, -0.5, 0.0, 0.0]


def test_dr_grpo_is_mean_centred_only():
    rewards = torch.tensor([3.0, 1.0, 1.0, 1.0])
    assert A.compute_advantages(rewards, 4, "dr_grpo", "none").tolist() == [1.5, -0.5, -0.5, -0.5]


def test_rloo_leave_one_out():
    # baseline of sample 0 = mean(1, 1, 1) = 1 -> 3 - 1 = 2; of sample 1 = mean(3, 1, 1) = 5/3
    rewards = torch.tensor([3.0, 1.0, 1.0, 1.0])
    adv = A.compute_advantages(rewards, 4, "rloo")
    assert adv.tolist() == pytest.approx([2.0, 1 - 5 / 3, 1 - 5 / 3, 1 - 5 / 3])
    # identity: rloo = G/(G-1) * dr_grpo
    assert torch.allclose(adv, A.compute_advantages(rewards, 4, "dr_grpo") * 4 / 3)


def test_advantages_reject_bad_shapes_and_names():
    with pytest.raises(ValueError, match="multiple of group_size"):
        A.compute_advantages(torch.ones(5), 2)
    with pytest.raises(ValueError, match="unknown advantage"):
        A.compute_advantages(torch.ones(4), 2, "ppo")


def test_clipped_surrogate_asymmetric_clip():
    # ratios 1.5 (positive adv: clipped at 1.28), 0.5 (negative adv: clipped at 0.8), 1.1 (inside)
    log_ratio = torch.log(torch.tensor([[1.5, 0.5, 1.1]]))
    adv = torch.tensor([2.0])
    loss, clipped = A.clipped_surrogate(log_ratio, adv, epsilon_low=0.2, epsilon_high=0.28)
    assert loss.tolist()[0] == pytest.approx([-1.28 * 2, -0.5 * 2, -1.1 * 2], rel=1e-6)
    assert clipped.tolist() == [[1.0, 0.0, 0.0]]
    loss_neg, clipped_neg = A.clipped_surrogate(log_ratio, -adv, epsilon_low=0.2, epsilon_high=0.28)
    # negative advantage: min(r*A, clip(r)*A) picks the larger ratio magnitude
    assert loss_neg.tolist()[0] == pytest.approx([1.5 * 2, 0.8 * 2, 1.1 * 2], rel=1e-6)
    assert clipped_neg.tolist() == [[0.0, 1.0, 0.0]]


def test_gradient_matches_float64_reference():
    torch.manual_seed(0)
    logp = torch.randn(3, 5, dtype=torch.float64, requires_grad=True)
    old = (logp.detach() + 0.3 * torch.randn(3, 5, dtype=torch.float64))
    adv = torch.tensor([1.0, -0.5, 2.0], dtype=torch.float64)
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [1, 0, 0, 0, 0]], dtype=torch.float64)
    loss, _ = A.policy_loss(logp, old, adv, mask, A.LossSettings(epsilon_low=0.2, epsilon_high=0.2, aggregation="token-mean"))
    loss.backward()
    # independent reference: per-token PPO loss written out elementwise
    ref_grad = torch.zeros_like(logp)
    ref_loss = 0.0
    for i in range(3):
        for t in range(5):
            if not mask[i, t]:
                continue
            r = math.exp(logp[i, t].item() - old[i, t].item())
            a = adv[i].item()
            unclipped, clipped = r * a, min(max(r, 0.8), 1.2) * a
            ref_loss += -min(unclipped, clipped)
            if unclipped <= clipped:  # the unclipped branch is active: d(-r a)/dlogp = -r a
                ref_grad[i, t] = -r * a
    n = mask.sum().item()
    assert loss.item() == pytest.approx(ref_loss / n, rel=1e-12)
    assert torch.allclose(logp.grad, ref_grad / n, atol=1e-12)


def test_gspo_sequence_ratio_value_and_gradient():
    logp = torch.tensor([[-1.0, -2.0, -3.0]], dtype=torch.float64, requires_grad=True)
    old = torch.tensor([[-1.5, -2.0, -2.0]], dtype=torch.float64)
    mask = torch.tensor([[1.0, 1.0, 0.0]], dtype=torch.float64)
    log_ratio = A.log_importance_ratio(logp, old, mask, "sequence")
    # sequence log ratio = mean over the 2 real tokens of (0.5, 0.0) = 0.25, on every token
    assert log_ratio.detach().tolist()[0][:2] == pytest.approx([0.25, 0.25])
    log_ratio[0, 0].backward()
    assert logp.grad.tolist() == [[1.0, 0.0, 0.0]]  # gradient flows through its own token only


def test_kl_estimators_against_closed_forms():
    logp = torch.tensor([[-1.0, -0.5]])
    ref = torch.tensor([[-1.2, -0.1]])
    d = ref - logp  # log(ref/pi)
    assert A.kl_penalty(logp, ref, "k1").tolist()[0] == pytest.approx((-d).flatten().tolist())
    assert A.kl_penalty(logp, ref, "k2").tolist()[0] == pytest.approx((0.5 * d**2).flatten().tolist())
    assert A.kl_penalty(logp, ref, "k3").tolist()[0] == pytest.approx((torch.exp(d) - d - 1).flatten().tolist())
    assert (A.kl_penalty(logp, ref, "k3") >= 0).all()


def test_k3_is_unbiased_estimate_of_kl():
    # categorical pi and ref over 4 outcomes; E_pi[k3] equals KL(pi || ref) exactly
    pi = torch.tensor([0.1, 0.2, 0.3, 0.4], dtype=torch.float64)
    ref = torch.tensor([0.25, 0.25, 0.25, 0.25], dtype=torch.float64)
    k3 = A.kl_penalty(pi.log()[None], ref.log()[None], "k3")[0]
    assert float((pi * k3).sum()) == pytest.approx(float((pi * (pi / ref).log()).sum()), rel=1e-12)


def test_aggregations_hand_computed():
    values = torch.tensor([[1.0, 2.0, 3.0], [4.0, 0.0, 0.0]])
    mask = torch.tensor([[1.0, 1.0, 1.0], [1.0, 0.0, 0.0]])
    assert A.aggregate(values, mask, "token-mean").item() == pytest.approx(10 / 4)
    assert A.aggregate(values, mask, "seq-mean-token-mean").item() == pytest.approx((2.0 + 4.0) / 2)
    assert A.aggregate(values, mask, "seq-mean-token-sum-norm", max_tokens=8).item() == pytest.approx(10 / (2 * 8))


def test_microbatch_sums_equal_full_batch():
    torch.manual_seed(1)
    values, mask = torch.randn(6, 4), (torch.rand(6, 4) > 0.3).float()
    for mode in ("token-mean", "seq-mean-token-mean", "seq-mean-token-sum-norm"):
        full = A.aggregate(values, mask, mode, max_tokens=4)
        parts = sum(
            A.aggregate(values[i : i + 2], mask[i : i + 2], mode, num_sequences=6.0, num_tokens=float(mask.sum()), max_tokens=4)
            for i in range(0, 6, 2)
        )
        assert parts.item() == pytest.approx(full.item(), rel=1e-6), mode


def test_kl_term_added_with_beta():
    logp = torch.tensor([[-1.0, -1.0]])
    ref = torch.tensor([[-2.0, -2.0]])
    mask = torch.ones(1, 2)
    base, _ = A.policy_loss(logp, logp, torch.tensor([0.0]), mask)
    with_kl, stats = A.policy_loss(logp, logp, torch.tensor([0.0]), mask, A.LossSettings(beta=0.5, kl_estimator="k1"), ref_logprobs=ref)
    assert base.item() == 0.0
    assert with_kl.item() == pytest.approx(0.5 * 1.0)
    assert stats["kl"].item() == pytest.approx(1.0)
    with pytest.raises(ValueError, match="ref_logprobs"):
        A.policy_loss(logp, logp, torch.tensor([0.0]), mask, A.LossSettings(beta=0.1))


def test_informative_groups_and_overlong_mask():
    rewards = torch.tensor([1.0, 1.0, 0.0, 1.0, 0.5, 0.5])
    assert A.informative_groups(rewards, 2).tolist() == [False, True, False]
    assert A.overlong_mask(torch.tensor([True, False])).tolist() == [0.0, 1.0]


def test_entropy_from_logits_uniform():
    assert A.entropy_from_logits(torch.zeros(2, 8)).tolist() == pytest.approx([math.log(8)] * 2)


def test_sampler_weights_hand_computed():
    trainer = torch.log(torch.tensor([[0.5, 0.2, 0.9, 0.3]]))
    sampler = torch.log(torch.tensor([[0.5, 0.05, 0.3, 0.9]]))
    mask = torch.tensor([[1.0, 1.0, 1.0, 0.0]])  # the last token is padding
    # rho = trainer / sampler = 1, 4, 3, 1/3
    w, stats = A.sampler_weights(trainer, sampler, mask, "tis", cap=2.0)
    torch.testing.assert_close(w, torch.tensor([[1.0, 2.0, 2.0, 1 / 3]]))
    torch.testing.assert_close(stats["sampler_is_weight"], torch.tensor(5.0 / 3))
    torch.testing.assert_close(stats["sampler_is_clipped"], torch.tensor(2.0 / 3))
    gap = (0.0 + math.log(4) + math.log(3)) / 3
    torch.testing.assert_close(stats["sampler_logprob_gap"], torch.tensor(gap))
    w, stats = A.sampler_weights(trainer, sampler, mask, "mis", cap=3.5)
    torch.testing.assert_close(w, torch.tensor([[1.0, 0.0, 3.0, 1 / 3]]))  # 4 > cap; 1/3 >= 1/cap stays
    torch.testing.assert_close(stats["sampler_is_clipped"], torch.tensor(1.0 / 3))
    w, _ = A.sampler_weights(trainer, sampler, mask, "mis", cap=2.5)
    torch.testing.assert_close(w, torch.tensor([[1.0, 0.0, 0.0, 0.0]]))  # 1/3 < 1/2.5: dropped too
    w, _ = A.sampler_weights(trainer, sampler, mask, "none")
    assert torch.equal(w, torch.ones_like(w))
    with pytest.raises(ValueError, match="tis"):
        A.sampler_weights(trainer, sampler, mask, "bogus")


def test_policy_loss_with_sampler_correction():
    torch.manual_seed(0)
    logp = torch.randn(4, 6, dtype=torch.float64).requires_grad_()
    sampler = logp.detach() + 0.3 * torch.randn(4, 6, dtype=torch.float64)
    adv = torch.tensor([1.0, -1.0, 0.5, -0.5], dtype=torch.float64)
    mask = torch.ones(4, 6, dtype=torch.float64)
    plain, _ = A.policy_loss(logp, logp.detach(), adv, mask)
    # "none" only measures: the loss is unchanged
    measured, stats = A.policy_loss(logp, logp.detach(), adv, mask, sampler_logprobs=sampler)
    torch.testing.assert_close(measured, plain)
    assert stats["sampler_logprob_gap"] > 0.1
    # tis: on-policy ratio is 1, so the per-token loss is -A * w with w = min(exp(logp - sampler), 2)
    loss, _ = A.policy_loss(logp, logp.detach(), adv, mask, A.LossSettings(sampler_correction="tis"), sampler_logprobs=sampler)
    w = torch.exp(logp.detach() - sampler).clamp(max=2.0)
    torch.testing.assert_close(loss, (-adv[:, None] * w).mean())
    # the weights are constants: the gradient is w * d(ratio), not a gradient through w
    loss.backward()
    torch.testing.assert_close(logp.grad, -adv[:, None] * w / logp.numel())
    with pytest.raises(ValueError, match="needs sampler_logprobs"):
        A.policy_loss(logp, logp.detach(), adv, mask, A.LossSettings(sampler_correction="tis"))
