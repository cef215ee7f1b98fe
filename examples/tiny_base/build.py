"""Build the tiny base checkpoint the quickstart and tests use: tokenizer, model, pre-training.

    python examples/tiny_base/build.py --out examples/tiny_base/checkpoint

A ~2M-parameter Qwen2 model with a 384-token byte-level BPE vocabulary, pre-trained by next-token
prediction on R1-Zero-formatted solutions of 3-digit additions from the *train* split only.

The corpus is deliberately imperfect, so the base starts weak but above zero, the situation RL
is for: 65% of solutions forget every carry (the column-addition habit RL must unlearn), 35%
carry correctly, and 15% break the <think>/<answer> format. The model thus knows how to carry but
prefers not to; GRPO, with only rule-based rewards, has to elicit the better habit.
Deterministic: the same command gives the same weights on the same torch build.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import random
import time
from pathlib import Path

import torch

from grpo.data import R1_ZERO_TEMPLATE
from grpo.tasks.arithmetic import addition_steps, generate_arithmetic

EOS = "<|endoftext|>"
TAGS = ["<think>", "</think>", "<answer>", "</answer>"]


def solution_text(a: int, b: int, rng: random.Random) -> str:
    """One completion (what follows 'Assistant:') in the corpus mix described above."""
    correct = rng.random() < 0.35
    steps = addition_steps(a, b, carry=correct)
    result = steps.rsplit(" ", 1)[-1]
    style = rng.random()
    if style < 0.85:
        return f" <think> {steps} </think> <answer> {result} </answer>"
    if style < 0.92:
        return f" {steps}. The answer is {result}."
    return f" <think> {steps} </think> {result}"


def build_corpus(num_examples: int, seed: int, digits: int = 3) -> list[str]:
    rng = random.Random(seed)
    rows = generate_arithmetic("train", num_samples=num_examples, seed=seed, digits=digits)
    return [R1_ZERO_TEMPLATE.format(prompt=row["prompt"]) + solution_text(row["a"], row["b"], rng) + EOS for row in rows]


def build_tokenizer(corpus: list[str], vocab_size: int):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE())
    # digits stay single tokens (as in Llama/Qwen) so numbers are spelled digit by digit
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Digits(individual_digits=True), pre_tokenizers.ByteLevel(add_prefix_space=False)]
    )
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=[EOS] + TAGS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False,
    )
    tokenizer.train_from_iterator(corpus, trainer=trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, eos_token=EOS, pad_token=EOS)
    # the tags are ordinary text to the policy: decode must keep them
    fast.add_tokens(TAGS)
    return fast


def build_model(vocab_size: int, eos_id: int, hidden: int = 192, layers: int = 4, heads: int = 4, intermediate: int = 512):
    from transformers import Qwen2Config, Qwen2ForCausalLM

    config = Qwen2Config(
        vocab_size=vocab_size, hidden_size=hidden, intermediate_size=intermediate, num_hidden_layers=layers,
        num_attention_heads=heads, num_key_value_heads=2, max_position_embeddings=512,
        tie_word_embeddings=True, bos_token_id=eos_id, eos_token_id=eos_id, pad_token_id=eos_id,
        rope_theta=10000.0,
    )
    return Qwen2ForCausalLM(config)


def pretrain(model, tokenizer, corpus: list[str], *, epochs: int, batch_size: int, lr: float, seed: int,
             device: str = "cpu") -> None:
    encoded = [tokenizer(text, add_special_tokens=False)["input_ids"] for text in corpus]
    pad = tokenizer.pad_token_id
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, betas=(0.9, 0.95), weight_decay=0.1)
    total = epochs * math.ceil(len(encoded) / batch_size)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min(1.0, (s + 1) / 100) * 0.5 * (1 + math.cos(math.pi * min(s, total) / total))
    )
    rng = random.Random(seed)
    step, started = 0, time.time()
    attention = model.config._attn_implementation  # what the saved base will decode with (sdpa)
    if device == "cuda":
        deterministic_cuda(model)
    model.train()
    for epoch in range(epochs):
        order = list(range(len(encoded)))
        rng.shuffle(order)
        for start in range(0, len(order), batch_size):
            batch = [encoded[i] for i in order[start : start + batch_size]]
            width = max(map(len, batch))
            ids = torch.full((len(batch), width), pad)
            labels = torch.full((len(batch), width), -100)
            mask = torch.zeros((len(batch), width), dtype=torch.long)
            for row, seq in enumerate(batch):
                ids[row, : len(seq)] = torch.tensor(seq)
                labels[row, : len(seq)] = torch.tensor(seq)
                mask[row, : len(seq)] = 1
            with torch.autocast(device_type=device, dtype=torch.bfloat16, enabled=device == "cuda"):
                loss = model(input_ids=ids.to(device), attention_mask=mask.to(device), labels=labels.to(device)).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            schedule.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            if step % 50 == 0 or step == total:
                print(f"epoch {epoch} step {step}/{total} loss {loss.item():.4f} ({time.time() - started:.0f}s)", flush=True)
    if device == "cuda":
        model.set_attn_implementation(attention)


def deterministic_cuda(model) -> None:
    """The same command builds the same base on a GPU, as it already does on a CPU: the R1 study
    compares arms run in different device calls, each of which pre-trains its base afresh (a lent
    machine's disk does not outlive it), and two bases of one seed differed by 2 points of test
    accuracy. SDPA's fused backward kernels and cuBLAS's split reductions accumulate in an order
    that varies run to run; eager attention and a fixed cuBLAS workspace do not. Ops still without
    a deterministic kernel warn instead of failing."""
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # read when cuBLAS first starts
    torch.use_deterministic_algorithms(True, warn_only=True)
    model.set_attn_implementation("eager")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="examples/tiny_base/checkpoint")
    parser.add_argument("--examples", type=int, default=20000)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--vocab-size", type=int, default=384)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--digits", type=int, default=3, help="digits of the additions in the corpus")
    parser.add_argument("--hidden", type=int, default=192)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--intermediate", type=int, default=512)
    parser.add_argument("--device", default="cpu", help="cuda: bf16 autocast on a GPU (the R1-Zero demo base)")
    args = parser.parse_args()

    corpus = build_corpus(args.examples, args.seed, args.digits)
    train_base(corpus, Path(args.out), args)


def train_base(corpus: list[str], out: Path, args: argparse.Namespace) -> None:
    """Tokenizer, model and pre-training from `corpus`, saved to `out` with the arguments that made
    it. `args`: seed, threads, vocab_size, hidden, layers, heads, intermediate, epochs, batch_size,
    lr, device (the options of this script; examples/r1_study builds its bases with it too)."""
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    tokenizer = build_tokenizer(corpus, args.vocab_size)
    model = build_model(len(tokenizer), tokenizer.eos_token_id, args.hidden, args.layers, args.heads, args.intermediate)
    model.to(args.device)
    lengths = [len(tokenizer(t)["input_ids"]) for t in corpus[:200]]
    print(f"{sum(p.numel() for p in model.parameters()) / 1e6:.2f}M parameters, vocab {len(tokenizer)}, "
          f"mean example {sum(lengths) / len(lengths):.0f} tokens")
    pretrain(model, tokenizer, corpus, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, seed=args.seed,
             device=args.device)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    (out / "build_args.json").write_text(json.dumps(vars(args), indent=2) + "\n")
    weights = hashlib.sha256((out / "model.safetensors").read_bytes()).hexdigest()[:16]
    print(f"saved to {out} (weights sha256 {weights}: the same command gives the same base)")


if __name__ == "__main__":
    main()
