"""fp32 master weights: small updates to a bf16 model accumulate instead of rounding away."""

import torch

from grpo.optim import MasterWeightAdamW


def test_small_updates_accumulate_in_bf16():
    torch.manual_seed(0)
    weight = torch.nn.Parameter(torch.full((1000,), 0.02, dtype=torch.bfloat16))
    pure = torch.nn.Parameter(weight.detach().clone())
    master = MasterWeightAdamW([weight], lr=1e-6)
    start = float(master.master[0][0])  # bf16's 0.02 is 0.0200195...
    plain = torch.optim.AdamW([pure], lr=1e-6)
    for _ in range(100):
        for param in (weight, pure):
            param.grad = torch.ones_like(param)
        master.step()
        plain.step()
    # 100 steps of ~1e-6: pure bf16 never moves; the master moved ~1e-4, past half a bf16 ulp (6e-5)
    assert torch.equal(pure.detach(), torch.full((1000,), 0.02, dtype=torch.bfloat16))
    assert float(master.master[0][0]) < start - 9e-5
    assert float(weight[0]) < float(torch.tensor(0.02, dtype=torch.bfloat16))


def test_state_round_trip():
    weight = torch.nn.Parameter(torch.randn(4, dtype=torch.bfloat16))
    optimizer = MasterWeightAdamW([weight], lr=1e-2)
    weight.grad = torch.ones_like(weight)
    optimizer.step()
    state = optimizer.state_dict()
    other_weight = torch.nn.Parameter(torch.zeros(4, dtype=torch.bfloat16))
    other = MasterWeightAdamW([other_weight], lr=1e-2)
    other.load_state_dict(state)
    assert torch.equal(other.master[0], optimizer.master[0]) and torch.equal(other_weight, weight)


def test_the_step_is_adamw_on_float32_copies_and_releases_the_bf16_gradients():
    torch.manual_seed(0)
    weights = [torch.nn.Parameter(torch.randn(n, dtype=torch.bfloat16)) for n in (5, 3)]
    reference = [torch.nn.Parameter(w.detach().float().clone()) for w in weights]
    optimizer = MasterWeightAdamW(weights, lr=1e-2, weight_decay=0.1)
    plain = torch.optim.AdamW(reference, lr=1e-2, weight_decay=0.1)
    for _ in range(3):
        for weight, ref in zip(weights, reference):
            weight.grad = torch.randn_like(weight)
            ref.grad = weight.grad.float()
        optimizer.step()
        plain.step()
        assert all(w.grad is None for w in weights)  # released at the step, before zero_grad
    for weight, master, ref in zip(weights, optimizer.master, reference):
        assert torch.equal(master.detach(), ref.detach())
        assert torch.equal(weight.detach(), ref.detach().to(torch.bfloat16))
