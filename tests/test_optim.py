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


def test_size_groups_ascend_and_keep_to_the_budget():
    from grpo.optim import _size_groups

    # total 100, 4 chunks -> budget 25; the 40 exceeds it alone and goes last
    assert _size_groups([40, 5, 10, 20, 15, 10], 4) == [[1, 2, 5], [4], [3], [0]]
    assert _size_groups([3], 16) == [[0]]


def test_the_step_in_groups_holds_one_group_of_float32_gradients_and_equals_one_adamw_step():
    torch.manual_seed(1)
    sizes = (7, 300, 2, 50, 50, 1000)
    weights = [torch.nn.Parameter(torch.randn(n, dtype=torch.bfloat16)) for n in sizes]
    reference = [torch.nn.Parameter(w.detach().float().clone()) for w in weights]
    optimizer = MasterWeightAdamW(weights, chunks=4, lr=1e-2, weight_decay=0.1)
    plain = torch.optim.AdamW(reference, lr=1e-2, weight_decay=0.1)
    live: list[int] = []  # float32 gradient elements alive at each inner step
    inner_step = optimizer.inner.step

    def watched_step():
        live.append(sum(m.grad.numel() for m in optimizer.master if m.grad is not None))
        return inner_step()

    optimizer.inner.step = watched_step
    for step in range(3):
        for i, (weight, ref) in enumerate(zip(weights, reference)):
            skip = step == 1 and i == 3  # a parameter without a gradient this step is left alone
            weight.grad = None if skip else torch.randn_like(weight)
            ref.grad = None if skip else weight.grad.float()
        optimizer.step()
        plain.step()
    # budget 1409 // 4 = 352: groups {2, 7, 50, 50} (109), {300}, {1000}
    assert live == [109, 300, 1000, 59, 300, 1000, 109, 300, 1000]
    for weight, master, ref in zip(weights, optimizer.master, reference):
        assert torch.equal(master.detach(), ref.detach())
        assert torch.equal(weight.detach(), ref.detach().to(torch.bfloat16))
