"""A tiny DeepSeek-V3 (MLA attention, routed + shared experts) built in code, with the tiny base's
tokenizer: a few hundred thousand parameters, trainable on a CPU."""

from pathlib import Path

from tests.conftest import TINY_BASE


def build_tiny_deepseek_v3(directory: Path, seed: int = 0) -> Path:
    import torch
    from transformers import AutoTokenizer, DeepseekV3Config, DeepseekV3ForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(TINY_BASE)
    config = DeepseekV3Config(
        vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, moe_intermediate_size=48,
        num_hidden_layers=3, first_k_dense_replace=1,  # one dense layer, then MoE layers as in DeepSeek-V3
        num_attention_heads=4, num_key_value_heads=4, q_lora_rank=32, kv_lora_rank=16, qk_rope_head_dim=8,
        qk_nope_head_dim=8, v_head_dim=16, n_routed_experts=8, n_shared_experts=1, num_experts_per_tok=2,
        n_group=1, topk_group=1, max_position_embeddings=512, tie_word_embeddings=True,
        bos_token_id=tokenizer.eos_token_id, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(seed)
    model = DeepseekV3ForCausalLM(config)
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory
