"""A learned reward: a Hugging Face sequence-classification model scores (prompt, completion).

DeepSeek-R1's last RL stage ("RL for all scenarios", Sec. 2.3.4) keeps rule rewards for reasoning
prompts and uses reward models for general ones (helpfulness, harmlessness). This verifier is
that second half: `AutoModelForSequenceClassification` loaded once per verifier process, batched,
on the GPU when the reward worker has one (`rewards.gpus_per_worker`).

Scores do not depend on how samples are batched: rows are right-padded, so every row's positions
start at 0, and the model reads its score at each row's last real token.
"""

from __future__ import annotations

from rewards.base import Sample, VerifierResult, verifier
from rewards.registry import register


@register("reward_model")
@verifier(batched=True)
class RewardModel:
    """score = the model's logit (one label) or the probability of `label` (several labels);
    `normalize: sigmoid` maps a one-label logit into (0, 1)."""

    def __init__(self, path: str, batch_size: int = 8, max_tokens: int = 2048, device: str = "auto",
                 dtype: str = "auto", label: int | None = None, normalize: str = "none", trust_remote_code: bool = False):
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        if normalize not in ("none", "sigmoid"):
            raise ValueError(f"normalize must be 'none' or 'sigmoid', got {normalize!r}")
        self.device = torch.device("cuda" if device == "auto" and torch.cuda.is_available() else
                                   ("cpu" if device == "auto" else device))
        torch_dtype = {"auto": torch.bfloat16 if self.device.type == "cuda" else torch.float32,
                       "float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[dtype]
        self.tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=trust_remote_code)
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.tokenizer.padding_side = "right"
        self.model = AutoModelForSequenceClassification.from_pretrained(
            path, dtype=torch_dtype, trust_remote_code=trust_remote_code, use_kernels=False,  # as grpo.policy.load_model
        ).to(self.device).eval()
        if self.model.config.pad_token_id is None:
            self.model.config.pad_token_id = self.tokenizer.pad_token_id
        labels = self.model.config.num_labels
        if label is not None and not 0 <= label < labels:
            raise ValueError(f"label must be in 0..{labels - 1} for this model, got {label}")
        self.label = label if label is not None else labels - 1
        self.normalize, self.batch_size, self.max_tokens = normalize, batch_size, max_tokens

    def text(self, sample: Sample) -> str:
        """The conversation as the reward model was trained to read it: its chat template when it
        has one and the prompt is chat messages, else prompt and completion concatenated."""
        if sample.is_chat and getattr(self.tokenizer, "chat_template", None):
            messages = list(sample.prompt) + [{"role": "assistant", "content": sample.completion}]
            return self.tokenizer.apply_chat_template(messages, tokenize=False)
        prompt = sample.prompt if isinstance(sample.prompt, str) else " ".join(m["content"] for m in sample.prompt)
        return prompt + sample.completion

    def __call__(self, samples: list[Sample]) -> list[VerifierResult]:
        import torch

        scores: list[float] = []
        for start in range(0, len(samples), self.batch_size):
            texts = [self.text(sample) for sample in samples[start : start + self.batch_size]]
            encoded = self.tokenizer(texts, return_tensors="pt", padding=True, truncation=True,
                                     max_length=self.max_tokens, add_special_tokens=False).to(self.device)
            with torch.inference_mode():
                logits = self.model(**encoded).logits.float()  # (b, num_labels)
            if logits.shape[1] == 1:
                values = logits[:, 0].sigmoid() if self.normalize == "sigmoid" else logits[:, 0]
            else:
                values = logits.softmax(dim=-1)[:, self.label]
            scores += values.cpu().tolist()
        return [VerifierResult(score, {"reward_model": score}) for score in scores]
