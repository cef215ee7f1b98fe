"""Log-probs: chunked selective log-softmax equals the naive computation; padding is invisible; models load without Hub kernels."""

import torch
from transformers import Qwen2Config, Qwen2ForCausalLM

from grpo.policy import (
    completion_logprobs, export_weights, position_ids_from_mask, selective_logprobs, training_attention,
)
from tests.conftest import TINY_BASE


def tiny_model(vocab=50, seed=0):
    torch.manual_seed(seed)
    config = Qwen2Config(vocab_size=vocab, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64)
    return Qwen2ForCausalLM(config).eval()


def test_selective_logprobs_equal_naive_in_float32_and_bf16():
    torch.manual_seed(0)
    hidden = torch.randn(3, 7, 16)
    head = torch.nn.Linear(16, 1000, bias=False)
    targets = torch.randint(0, 1000, (3, 7))
    naive = torch.log_softmax(head(hidden).double() / 0.7, dim=-1).gather(-1, targets[..., None]).squeeze(-1)
    chunked, entropy = selective_logprobs(hidden, head, targets, temperature=0.7, chunk_size=4, with_entropy=True)
    assert torch.allclose(chunked.double(), naive, atol=1e-5)
    probs = torch.softmax(head(hidden).double() / 0.7, dim=-1)
    assert torch.allclose(entropy.double(), -(probs * probs.log()).sum(-1), atol=1e-4)
    # bf16 weights and activations: within bf16 tolerance of the float64 reference
    head_bf16 = head.to(torch.bfloat16)
    low, _ = selective_logprobs(hidden.to(torch.bfloat16), head_bf16, targets, temperature=0.7, chunk_size=5)
    assert low.dtype == torch.float32
    reference = torch.log_softmax(head_bf16.double()(hidden.to(torch.bfloat16).double()) / 0.7, dim=-1)
    reference = reference.gather(-1, targets[..., None]).squeeze(-1)
    assert (low.double() - reference).abs().max() < 0.05


def test_selective_logprobs_gradient_matches_naive():
    torch.manual_seed(1)
    hidden = torch.randn(2, 5, 8, requires_grad=True)
    head = torch.nn.Linear(8, 30, bias=False)
    targets = torch.randint(0, 30, (2, 5))
    chunked, _ = selective_logprobs(hidden, head, targets, chunk_size=3)
    chunked.sum().backward()
    grad_chunked = hidden.grad.clone()
    hidden.grad = None
    torch.log_softmax(head(hidden), -1).gather(-1, targets[..., None]).sum().backward()
    assert torch.allclose(grad_chunked, hidden.grad, atol=1e-6)


def test_position_ids_skip_left_padding():
    mask = torch.tensor([[0, 0, 1, 1, 1], [1, 1, 1, 1, 1]])
    assert position_ids_from_mask(mask).tolist() == [[0, 0, 0, 1, 2], [0, 1, 2, 3, 4]]


def test_completion_logprobs_unaffected_by_left_padding():
    model = tiny_model()
    prompt, completion = [5, 6, 7], [8, 9, 10, 11]
    alone = torch.tensor([prompt + completion])
    ref, _ = completion_logprobs(model, alone, torch.ones_like(alone), len(completion))
    padded = torch.tensor([[0, 0, 0] + prompt + completion])
    mask = torch.tensor([[0, 0, 0] + [1] * 7])
    got, _ = completion_logprobs(model, padded, mask, len(completion))
    assert torch.allclose(got, ref, atol=1e-5)
    # and equals the plain model forward's log-softmax
    logits = model(alone).logits[0, len(prompt) - 1 : -1]
    naive = torch.log_softmax(logits, -1).gather(-1, torch.tensor(completion)[:, None]).squeeze(-1)
    assert torch.allclose(got[0], naive, atol=1e-5)


def test_export_weights_merges_lora():
    from peft import LoraConfig, get_peft_model

    model = tiny_model()
    plain = export_weights(model)
    lora = get_peft_model(tiny_model(), LoraConfig(r=2, lora_alpha=4, target_modules=["q_proj"], init_lora_weights=False))
    merged = export_weights(lora)
    assert set(merged) == set(plain)
    name = "model.layers.0.self_attn.q_proj.weight"
    assert not torch.allclose(merged[name], plain[name])  # the random LoRA delta is in
    reference = lora.merge_and_unload().state_dict()[name]
    assert torch.allclose(merged[name], reference, atol=1e-6)


def test_models_load_without_hub_kernels(monkeypatch):
    """transformers 5.25 kernelizes by default (layers downloaded from the Hub at load time): the
    policy must be asked for plain layers, whatever the installed version's default."""
    from transformers import AutoModelForCausalLM

    from grpo.config import ModelConfig
    from grpo.policy import load_model

    seen = {}
    real = AutoModelForCausalLM.from_pretrained

    def spy(*args, **kwargs):
        seen.update(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(AutoModelForCausalLM, "from_pretrained", spy)
    load_model(ModelConfig(path=str(TINY_BASE), dtype="float32"), torch.device("cpu"), trainable=False)
    assert seen.get("use_kernels") is False


def test_training_attention_leaves_out_cudnn_on_a_gpu_only():
    """cuDNN's SDPA backward returns NaN at padded lengths of 64 mod 128 (pytorch#196678): the
    trainer's forward and backward run without it on a GPU; other backends stay, and the global
    setting is restored after."""
    assert torch.backends.cuda.cudnn_sdp_enabled()
    with training_attention(torch.device("cuda")):
        assert not torch.backends.cuda.cudnn_sdp_enabled()
        assert torch.backends.cuda.flash_sdp_enabled() and torch.backends.cuda.mem_efficient_sdp_enabled()
    assert torch.backends.cuda.cudnn_sdp_enabled()
    with training_attention(torch.device("cpu")):
        assert torch.backends.cuda.cudnn_sdp_enabled()
