import socket

import pytest
import torch
from transformers import Qwen2Config, Qwen2ForCausalLM

from grpo.rollout.weight_sync import (
    engine_weight_name, engine_weights, lora_base_layer_names, metadata, pack, plan_buckets, receive_buckets, send_buckets, unpack,
)


def tiny_model(seed=0, tie=True):
    torch.manual_seed(seed)
    config = Qwen2Config(vocab_size=40, hidden_size=16, intermediate_size=32, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=1, tie_word_embeddings=tie)
    return Qwen2ForCausalLM(config)


@pytest.mark.parametrize("name, expected", [
    ("model.layers.0.self_attn.q_proj.weight", "model.layers.0.self_attn.q_proj.weight"),
    ("base_model.model.model.layers.0.self_attn.q_proj.base_layer.weight", "model.layers.0.self_attn.q_proj.weight"),
    ("base_model.model.model.layers.0.self_attn.q_proj.lora_A.default.weight", None),
    ("base_model.model.model.layers.0.mlp.down_proj.lora_B.default.weight", None),
    ("_orig_mod.model.norm.weight", "model.norm.weight"),
    ("module._orig_mod.lm_head.weight", "lm_head.weight"),
    ("model._orig_mod.embed_tokens.weight", "model.embed_tokens.weight"),
])
def test_engine_weight_name(name, expected):
    assert engine_weight_name(name) == expected


def test_engine_weights_are_the_checkpoint_names_once_each_and_live_tensors():
    model = tiny_model()
    pairs = list(engine_weights(model))
    names = [n for n, _ in pairs]
    # independent reference: the saved checkpoint's keys, minus the tied lm_head (it is the embedding)
    assert sorted(names) == sorted(k for k in model.state_dict() if k != "lm_head.weight")
    assert len(names) == len(set(names))
    # no copies: the tensors share storage with the parameters, so nothing moves until a sync
    embed = dict(pairs)["model.embed_tokens.weight"]
    assert embed.data_ptr() == model.model.embed_tokens.weight.data_ptr()


def test_engine_weights_of_lora_model_merged_and_base():
    from peft import LoraConfig, get_peft_model

    base = tiny_model(tie=False)
    original = {k: v.clone() for k, v in base.state_dict().items()}
    model = get_peft_model(base, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"]))
    for name, param in model.named_parameters():
        if "lora_B" in name:
            torch.nn.init.normal_(param, std=0.5)
    merged = dict(engine_weights(model))
    unmerged = dict(engine_weights(model, merge_lora=False))
    assert set(merged) == set(unmerged) == set(original)
    # reference merge: W + B A * alpha / r, computed here from the adapter's own factors
    layer = model.base_model.model.model.layers[0].self_attn.q_proj
    delta = layer.lora_B["default"].weight @ layer.lora_A["default"].weight * (8 / 4)
    key = "model.layers.0.self_attn.q_proj.weight"
    torch.testing.assert_close(merged[key], original[key] + delta)
    torch.testing.assert_close(unmerged[key], original[key])
    torch.testing.assert_close(merged["model.layers.0.mlp.up_proj.weight"], original["model.layers.0.mlp.up_proj.weight"])


def test_plan_buckets_bounds_alignment_and_order():
    metas = [("a", torch.float32, (10,)), ("b", torch.bfloat16, (3, 5)), ("c", torch.float32, (100,)),
             ("big", torch.float32, (1000,)), ("d", torch.int64, (2,))]
    plan = plan_buckets(metas, bucket_bytes=512)
    assert [[s.name for s in b.slots] for b in plan] == [["a", "b"], ["c"], ["big"], ["d"]]
    a, b = plan[0].slots
    assert (a.offset, a.nbytes, b.offset, b.nbytes) == (0, 40, 256, 30)
    assert plan[0].nbytes == 286
    assert plan[2].nbytes == 4000  # larger than a bucket: alone, not split
    assert all(s.offset % 256 == 0 for bucket in plan for s in bucket.slots)
    with pytest.raises(ValueError, match="bucket_bytes"):
        plan_buckets(metas, 0)


def test_pack_unpack_round_trip_mixed_dtypes():
    tensors = {"w": torch.randn(3, 4), "h": torch.randn(7).to(torch.bfloat16), "i": torch.arange(5),
               "t": torch.randn(4, 3).t()}  # non-contiguous
    plan = plan_buckets(metadata(tensors), bucket_bytes=10_000)
    assert len(plan) == 1
    flat = pack(plan[0], tensors, "cpu")
    for name, tensor in unpack(plan[0], flat):
        assert tensor.dtype == tensors[name].dtype
        assert torch.equal(tensor, tensors[name])
    with pytest.raises(ValueError, match="planned"):
        pack(plan[0], {**tensors, "w": torch.randn(4, 3)}, "cpu")


def test_send_buckets_asks_for_one_buckets_tensors_at_a_time():
    """A sharded learner gathers a bucket's parameters only when that bucket is packed: the callable
    form is asked once per bucket, in plan order, for exactly that bucket's names, and what is
    sent equals what the mapping form sends."""
    tensors = {f"w{i}": torch.randn(16, 8) for i in range(5)}
    plan = plan_buckets(metadata(tensors), 1024)
    assert len(plan) > 2
    asked, sent_lazy, sent_eager = [], [], []

    def gather(bucket):
        names = [slot.name for slot in bucket.slots]
        asked.append(names)
        return {name: tensors[name] for name in names}  # nothing beyond this bucket

    send_buckets(plan, gather, lambda flat, src: sent_lazy.append(flat.clone()), "cpu")
    send_buckets(plan, tensors, lambda flat, src: sent_eager.append(flat.clone()), "cpu")
    assert asked == [[slot.name for slot in bucket.slots] for bucket in plan]
    assert len(sent_lazy) == len(plan) and all(torch.equal(a, b) for a, b in zip(sent_lazy, sent_eager))


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _peer(rank, port, bucket_bytes, queue):
    """One end of a real two-process broadcast (gloo): rank 0 sends its model, rank 1 loads."""
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2)
    try:
        model = tiny_model(seed=rank)  # different weights on each side
        source = dict(engine_weights(model))
        plan = plan_buckets(metadata(source), bucket_bytes)

        def broadcast(tensor, src):
            dist.broadcast(tensor, src=src)

        if rank == 0:
            send_buckets(plan, source, broadcast, "cpu")
        else:
            received = {}
            total = receive_buckets(plan, broadcast, "cpu", lambda pairs: received.update({n: t.clone() for n, t in pairs}))
            # numpy arrays pickle by value; torch tensors would travel as shared-memory file
            # descriptors that vanish if this process exits before the parent reads them
            queue.put((total, {n: t.numpy() for n, t in received.items()}))
    finally:
        dist.destroy_process_group()


def test_bucketed_broadcast_between_two_processes_delivers_every_weight():
    ctx = torch.multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    port = _free_port()
    procs = [ctx.Process(target=_peer, args=(rank, port, 4096, queue)) for rank in (0, 1)]
    for p in procs:
        p.start()
    total, received = queue.get(timeout=120)
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    sender = dict(engine_weights(tiny_model(seed=0)))
    assert set(received) == set(sender)
    for name, tensor in sender.items():
        assert torch.equal(torch.from_numpy(received[name]), tensor), name
    assert total >= sum(t.numel() * t.element_size() for t in sender.values())
    assert len(plan_buckets(metadata(sender), 4096)) > 3  # the test really crossed several buckets


def test_lora_base_layer_names_follow_the_engines_wrapped_modules():
    engine = ["model.layers.0.self_attn.qkv_proj.base_layer.weight", "model.layers.0.self_attn.qkv_proj.base_layer.bias",
              "model.layers.0.self_attn.o_proj.base_layer.weight", "model.layers.0.mlp.gate_up_proj.weight",
              "model.embed_tokens.weight", "model.norm.weight"]
    packed = {"qkv_proj": ["q_proj", "k_proj", "v_proj"], "gate_up_proj": ["gate_proj", "up_proj"]}
    names = ["model.layers.0.self_attn.q_proj.weight", "model.layers.0.self_attn.k_proj.bias",
             "model.layers.0.self_attn.o_proj.weight", "model.layers.0.mlp.up_proj.weight", "model.embed_tokens.weight"]
    assert lora_base_layer_names(names, engine, packed) == {
        "model.layers.0.self_attn.q_proj.weight": "model.layers.0.self_attn.q_proj.base_layer.weight",
        "model.layers.0.self_attn.k_proj.bias": "model.layers.0.self_attn.k_proj.base_layer.bias",
        "model.layers.0.self_attn.o_proj.weight": "model.layers.0.self_attn.o_proj.base_layer.weight",
        "model.layers.0.mlp.up_proj.weight": "model.layers.0.mlp.up_proj.weight",  # gate_up not wrapped here
        "model.embed_tokens.weight": "model.embed_tokens.weight",
    }
    assert lora_base_layer_names(names, [n.replace(".base_layer", "") for n in engine], packed) == {n: n for n in names}
