"""grpo/rollout/shared_weights.py: a LoRA trainer's frozen base weights as views of the engine's.

The engine here is what vLLM holds for a Qwen2 model with LoRA enabled: q/k/v and gate/up fused
into one tensor each (parts stacked along dim 0), LoRA-capable layers' weights under
`base_layer`, the embedding and LM head padded to a multiple of 64 rows."""

from __future__ import annotations

import pytest
import torch
from peft import LoraConfig, get_peft_model
from transformers import Qwen2Config, Qwen2ForCausalLM

from grpo.policy import unwrap
from grpo.rollout.shared_weights import frozen_base_weights, park_on_host, plan_views, return_home, share
from grpo.rollout.weight_sync import lora_base_layer_names

PACKED = {"qkv_proj": ["q_proj", "k_proj", "v_proj"], "gate_up_proj": ["gate_proj", "up_proj"]}


def test_fused_parts_are_row_ranges_in_stacking_order():
    shapes = {"l.q_proj.weight": (8, 4), "l.k_proj.weight": (2, 4), "l.v_proj.weight": (2, 4),
              "l.q_proj.bias": (8,), "l.k_proj.bias": (2,), "l.v_proj.bias": (2,),
              "embed.weight": (50, 4), "norm.weight": (4,)}
    engine = {"l.qkv_proj.weight": (12, 4), "l.qkv_proj.bias": (12,), "embed.weight": (64, 4), "norm.weight": (4,)}
    assert plan_views(shapes, engine, PACKED, {}) == {
        "l.q_proj.weight": ("l.qkv_proj.weight", 0, 8), "l.k_proj.weight": ("l.qkv_proj.weight", 8, 10),
        "l.v_proj.weight": ("l.qkv_proj.weight", 10, 12), "l.q_proj.bias": ("l.qkv_proj.bias", 0, 8),
        "l.k_proj.bias": ("l.qkv_proj.bias", 8, 10), "l.v_proj.bias": ("l.qkv_proj.bias", 10, 12),
        "embed.weight": ("embed.weight", 0, 50),  # the padded rows come after the checkpoint's
        "norm.weight": ("norm.weight", 0, 4),
    }


def test_weights_without_a_place_that_fits_are_left_out():
    shapes = {"l.q_proj.weight": (8, 4), "l.k_proj.weight": (2, 4), "l.v_proj.weight": (2, 4),
              "a.gate_proj.weight": (6, 4), "a.up_proj.weight": (6, 4), "head.weight": (50, 4), "x.weight": (3, 3)}
    engine = {"l.qkv_proj.weight": (16, 4),  # rows do not add up (tensor-parallel shards, say)
              "a.gate_up_proj.weight": (12, 8),  # other columns
              "head.weight": (40, 4)}  # fewer rows than the checkpoint; x: not in the engine at all
    assert plan_views(shapes, engine, PACKED, {}) == {}
    # a fused part whose sibling is missing from the trainer cannot be placed either
    assert plan_views({"l.q_proj.weight": (8, 4)}, {"l.qkv_proj.weight": (12, 4)}, PACKED, {}) == {}


def tiny_lora_model() -> torch.nn.Module:
    torch.manual_seed(0)
    config = Qwen2Config(vocab_size=50, hidden_size=16, intermediate_size=32, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
                         tie_word_embeddings=False)
    model = get_peft_model(Qwen2ForCausalLM(config), LoraConfig(r=4, lora_alpha=8, target_modules="all-linear"))
    for name, param in model.named_parameters():  # adapters that change the output (B starts at zero)
        if "lora_B" in name:
            torch.nn.init.normal_(param, std=0.1)
    return model



def engine_like(weights: dict[str, torch.Tensor], layers: int) -> dict[str, torch.Tensor]:
    """Fresh tensors laid out as vLLM lays out a LoRA-enabled Qwen2 (own storage, same values)."""
    engine = {}
    pad = lambda t: torch.cat([t, torch.zeros(64 - t.shape[0], *t.shape[1:], dtype=t.dtype)])  # noqa: E731
    engine["model.embed_tokens.weight"] = pad(weights["model.embed_tokens.weight"])
    engine["lm_head.weight"] = pad(weights["lm_head.weight"])
    engine["model.norm.weight"] = weights["model.norm.weight"].clone()
    for i in range(layers):
        a, m = f"model.layers.{i}.self_attn", f"model.layers.{i}.mlp"
        for leaf in ("weight", "bias"):
            engine[f"{a}.qkv_proj.base_layer.{leaf}"] = torch.cat([weights[f"{a}.{p}_proj.{leaf}"] for p in "qkv"])
        engine[f"{a}.o_proj.base_layer.weight"] = weights[f"{a}.o_proj.weight"].clone()
        engine[f"{m}.gate_up_proj.base_layer.weight"] = torch.cat([weights[f"{m}.gate_proj.weight"], weights[f"{m}.up_proj.weight"]])
        engine[f"{m}.down_proj.base_layer.weight"] = weights[f"{m}.down_proj.weight"].clone()
        for norm in ("input_layernorm", "post_attention_layernorm"):
            engine[f"model.layers.{i}.{norm}.weight"] = weights[f"model.layers.{i}.{norm}.weight"].clone()
    return engine


def share_into(model: torch.nn.Module, engine: dict[str, torch.Tensor], home: dict | None = None) -> int:
    weights = frozen_base_weights(model)
    names = lora_base_layer_names(list(weights), list(engine), PACKED)
    plan = plan_views({n: tuple(p.shape) for n, p in weights.items()}, {n: tuple(t.shape) for n, t in engine.items()},
                      PACKED, names)
    return share(weights, engine, plan, home)


def test_every_frozen_weight_becomes_a_view_of_the_engines_and_the_model_computes_the_same():
    model = tiny_lora_model()
    ids = torch.randint(0, 50, (2, 7))
    before = model(input_ids=ids).logits.detach()
    weights = frozen_base_weights(model)
    engine = engine_like({n: p.detach() for n, p in weights.items()}, layers=2)
    shared = share_into(model, engine)
    assert shared == sum(p.numel() * p.element_size() for p in weights.values())
    storages = {t.untyped_storage().data_ptr() for t in engine.values()}
    assert all(p.untyped_storage().data_ptr() in storages for p in frozen_base_weights(model).values())
    torch.testing.assert_close(model(input_ids=ids).logits, before, rtol=0, atol=0)
    # one memory: what the engine's tensor holds is what the trainer computes with
    qkv = engine["model.layers.0.self_attn.qkv_proj.base_layer.weight"]  # q: rows 0-15, k: 16-23, v: 24-31
    k_proj = unwrap(model).model.layers[0].self_attn.k_proj.base_layer.weight
    with torch.no_grad():
        qkv[16:24] += 1.0
    assert torch.equal(k_proj, qkv[16:24]) and torch.equal(k_proj, weights["model.layers.0.self_attn.k_proj.weight"])
    # the adapters still train; the shared base takes no gradient
    model(input_ids=ids).logits.sum().backward()
    assert all(p.grad is not None for n, p in model.named_parameters() if "lora_" in n)
    assert all(p.grad is None for p in frozen_base_weights(model).values())


def test_a_weight_the_engine_holds_differently_keeps_its_own_copy():
    model = tiny_lora_model()
    weights = frozen_base_weights(model)
    engine = engine_like({n: p.detach() for n, p in weights.items()}, layers=2)
    engine["model.layers.1.mlp.down_proj.base_layer.weight"] *= 1.001  # other values
    engine["model.norm.weight"] = engine["model.norm.weight"].to(torch.float64)  # another dtype
    own = {name: frozen_base_weights(model)[name].untyped_storage().data_ptr()
           for name in ("model.layers.1.mlp.down_proj.weight", "model.norm.weight")}
    shared = share_into(model, engine)
    after = frozen_base_weights(model)
    assert {name: after[name].untyped_storage().data_ptr() for name in own} == own
    assert shared == sum(p.numel() * p.element_size() for n, p in weights.items() if n not in own)


def test_a_trainable_weight_is_never_shared():
    weight = torch.nn.Parameter(torch.ones(4, 4))
    engine = {"w": torch.ones(4, 4)}
    assert share({"w": weight}, engine, {"w": ("w", 0, 4)}) == 0
    assert weight.untyped_storage().data_ptr() != engine["w"].untyped_storage().data_ptr()


def test_frozen_base_weights_are_the_base_layers_under_checkpoint_names():
    weights = frozen_base_weights(tiny_lora_model())
    assert "model.layers.0.self_attn.q_proj.weight" in weights and "lm_head.weight" in weights
    assert not any("lora_" in name or "base_layer" in name for name in weights)
    assert not any(p.requires_grad for p in weights.values())


def test_sharing_after_parking_leaves_an_unplaceable_weight_its_own():
    model = tiny_lora_model()
    weights = frozen_base_weights(model)
    engine = engine_like({n: p.detach() for n, p in weights.items()}, layers=2)
    del engine["model.norm.weight"]  # nowhere to place it
    home = park_on_host(weights)
    assert set(home) == set(weights) and all(d.type == "cpu" for d in home.values())
    own = weights["model.norm.weight"].untyped_storage().data_ptr()
    shared = share_into(model, engine, home)
    after = frozen_base_weights(model)
    assert after["model.norm.weight"].untyped_storage().data_ptr() == own
    assert shared == sum(p.numel() * p.element_size() for n, p in weights.items() if n != "model.norm.weight")
    q = after["model.layers.0.self_attn.q_proj.weight"]
    assert q.untyped_storage().data_ptr() == engine["model.layers.0.self_attn.qkv_proj.base_layer.weight"].untyped_storage().data_ptr()


def test_return_home_moves_only_what_is_elsewhere():
    """A stand-in weight (a parameter cannot move to the meta device, which stands in for the GPU
    on a CPU-only machine; the GPU test below does the real round trip)."""
    class Weight:
        def __init__(self, data):
            self.data = data

        @property
        def device(self):
            return self.data.device

    away, there = Weight(torch.ones(3)), Weight(torch.zeros(2, device="meta"))
    kept = away.data
    return_home({"a": away, "b": there}, {"a": torch.device("meta"), "b": torch.device("meta")})
    assert away.device.type == "meta" and there.device.type == "meta" and kept.device.type == "cpu"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU: the device round trip")
def test_parking_frees_the_device_and_sharing_brings_every_weight_back_to_it():
    model = tiny_lora_model().cuda()
    ids = torch.randint(0, 50, (2, 7), device="cuda")
    before = model(input_ids=ids).logits.detach()
    weights = frozen_base_weights(model)
    values = {n: p.detach().clone() for n, p in weights.items()}
    used = torch.cuda.memory_allocated()
    home = park_on_host(weights)
    assert all(p.device.type == "cpu" for p in weights.values())
    assert used - torch.cuda.memory_allocated() >= sum(p.numel() * p.element_size() for p in weights.values())
    engine = engine_like({n: v.cpu() for n, v in values.items()}, layers=2)
    engine = {n: t.cuda() for n, t in engine.items()}
    engine["model.layers.1.mlp.down_proj.base_layer.weight"] *= 1.001  # this one stays the trainer's own
    share_into(model, engine, home)
    assert all(p.device.type == "cuda" for p in model.parameters())
    down = frozen_base_weights(model)["model.layers.1.mlp.down_proj.weight"]
    assert torch.equal(down, values["model.layers.1.mlp.down_proj.weight"])
    torch.testing.assert_close(model(input_ids=ids).logits, before, rtol=0, atol=0)
