"""The recipe schema: typed fields with help and cited defaults, YAML loading, dotted overrides.

Validation happens once, here, at load: every error names the key, the value and the fix, so a
typo in a recipe costs seconds, not a crashed run an hour in.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator


class RecipeError(ValueError):
    """A recipe that cannot run; the message names the key, the value and the fix."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


def _registered(value: str, names: list[str], what: str) -> str:
    """A choice backed by a registry: the registry, not this schema, holds the valid names."""
    if value not in names:
        close = difflib.get_close_matches(value, names, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ValueError(f"unknown {what}{hint}; registered: {', '.join(names)}")
    return value


class LoraConfig(_Section):
    enabled: bool = Field(False, description="Train a LoRA adapter through PEFT instead of all weights.")
    r: int = Field(16, ge=1, description="LoRA rank.")
    alpha: int = Field(32, ge=1, description="LoRA scaling numerator (scale = alpha / r).")
    dropout: float = Field(0.0, ge=0.0, lt=1.0, description="Dropout on the LoRA branch.")
    target_modules: list[str] | str = Field(
        "all-linear", description="Module names to adapt, or 'all-linear' (PEFT's shorthand)."
    )


class ModelConfig(_Section):
    path: str = Field(..., description="Hugging Face model id or local directory of the policy.")
    tokenizer: str | None = Field(None, description="Tokenizer id or directory; defaults to `path`.")
    build_command: str | None = Field(
        None, description="The command that creates `path` when the checkpoint is built locally rather than "
        "shipped or downloaded; a missing `path` error tells the user to run it."
    )
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = Field(
        "auto", description="Weight dtype: 'auto' is float32 on CPU and bfloat16 on GPU."
    )
    gradient_checkpointing: bool = Field(False, description="Recompute activations in backward to save memory.")
    liger_kernel: bool = Field(
        False, description="GPU: fuse RMSNorm, SwiGLU and rotary embeddings with Liger-Kernel's Triton kernels "
        "(pip install 'grpo[liger]'); the LM head and loss are unchanged."
    )
    trust_remote_code: bool = Field(False, description="Allow model code from the checkpoint's repository.")
    lora: LoraConfig = Field(default_factory=LoraConfig)


class DatasetConfig(_Section):
    task: str | None = Field(None, description="A built-in generator registered in grpo/tasks (`TASKS`); no download.")
    task_kwargs: dict[str, Any] = Field(default_factory=dict, description="Arguments of the task generator.")
    path: str | None = Field(None, description="A .jsonl / .json / .parquet file, a saved `datasets` dir, or a hub id.")
    stage: str | None = Field(
        None, description="Pipelines: the dataset an earlier `generate` stage of this recipe wrote (its name)."
    )
    name: str | None = Field(None, description="Configuration name of a hub dataset (e.g. 'main' for gsm8k).")
    split: str = Field("train", description="Split to read from a hub dataset or a DatasetDict directory.")
    num_samples: int | None = Field(None, ge=1, description="Keep only the first N rows (all when unset).")
    seed: int = Field(0, description="Seed of a task generator.")

    @field_validator("task")
    @classmethod
    def _known_task(cls, value: str | None) -> str | None:
        from grpo.tasks import TASKS

        return None if value is None else _registered(value, sorted(TASKS), "task")

    @model_validator(mode="after")
    def _one_source(self) -> "DatasetConfig":
        if sum(source is not None for source in (self.task, self.path, self.stage)) != 1:
            raise ValueError(
                "give exactly one of `task` (a built-in generator), `path` (a file or dataset) or `stage` (an "
                "earlier generate stage's output)"
            )
        if self.task is not None and self.num_samples is None:
            raise ValueError("a built-in task needs `num_samples` (how many problems to generate)")
        return self


class DataConfig(_Section):
    train: DatasetConfig = Field(..., description="Prompts the policy trains on.")
    test: DatasetConfig | None = Field(None, description="Held-out prompts for periodic evaluation.")
    prompt_column: str = Field(
        "prompt", description="Column holding the prompt (text or chat messages); a dotted path reaches into "
        "nested columns."
    )
    answer_column: str = Field(
        "answer", description="Column holding the reference answer for verifiers; a dotted path reaches into "
        "nested columns (verl's `reward_model.ground_truth`)."
    )
    invalid_rows: Literal["error", "drop"] = Field(
        "error", description="Rows with an empty prompt, or no reference answer when a verifier needs one: stop "
        "with their count and row numbers (error), or drop them and log how many (drop)."
    )
    overlong_prompts: Literal["error", "drop", "truncate"] = Field(
        "error", description="Prompts longer than rollout.max_prompt_tokens once the template is applied: stop "
        "(error), drop them, or keep their last tokens (truncate, from the left); counts are logged."
    )
    drop_test_overlap: bool = Field(
        False, description="Drop test prompts that also occur in train (after normalising whitespace); either way "
        "their count is reported."
    )
    prompt_format: str | None = Field(
        None, description="Build the prompt from columns instead, e.g. 'Using the numbers {nums}, make {target}.'"
    )
    template: Literal["r1_zero", "chat", "plain"] = Field(
        "r1_zero",
        description="r1_zero: the DeepSeek-R1-Zero User/Assistant template for base models (R1 paper, "
        "Table 1); chat: the tokenizer's chat template for instruct models; plain: the prompt as is.",
    )
    system_prompt: str | None = Field(None, description="System message prepended under the chat template.")
    shuffle: bool = Field(True, description="Shuffle training prompts each epoch (seeded).")


class VLLMConfig(_Section):
    gpu_memory_utilization: float = Field(
        0.3, gt=0.0, le=0.95, description="Share of the GPU vLLM may hold (weights + KV cache). Colocated, the "
        "trainer needs the rest while vLLM is awake."
    )
    sleep: bool = Field(
        True, description="Colocated only: release vLLM's weights and KV cache after each generation (sleep "
        "level 2) so training gets the memory; weights are reloaded from the trainer on wake-up."
    )
    share_lora_base: bool = Field(
        False, description="Colocated LoRA only: the trainer's frozen base weights become views of vLLM's (one copy "
        "instead of two: 15 GiB less at 7B), and sleep releases only vLLM's KV cache. Weights that do not match "
        "vLLM's bit for bit keep their own copy."
    )
    sync_bucket_mb: int = Field(256, ge=1, description="Separate mode: size of each flat NCCL broadcast bucket.")
    sync_port: int = Field(29555, ge=1024, le=65535, description="Separate mode: TCP port of the NCCL rendezvous.")


class RolloutConfig(_Section):
    engine: str = Field(
        "auto", description="Generation engine, a name registered in grpo/rollout (`ENGINES`): auto is vLLM on a "
        "GPU when it is installed (`pip install 'grpo[vllm]'`) and the transformers engine otherwise."
    )
    group_size: int = Field(
        8, ge=2, description="Samples per prompt G; GRPO compares them (DeepSeekMath used 64, R1 16)."
    )
    prompts_per_step: int = Field(16, ge=1, description="Prompts per training step.")
    temperature: float = Field(1.0, gt=0.0, description="Sampling temperature (1.0 in DeepSeek-R1).")
    top_p: float = Field(1.0, gt=0.0, le=1.0, description="Nucleus sampling mass.")
    max_prompt_tokens: int | None = Field(
        None, ge=1, description="Longest prompt, in tokens after the template; default: the model's context minus "
        "max_completion_tokens. data.overlong_prompts says what happens to longer ones."
    )
    max_completion_tokens: int = Field(256, ge=1, description="Generation budget per sample.")
    min_completion_tokens: int = Field(
        0, ge=0, description="No EOS or stop before this many tokens (vLLM's min_tokens; both engines honour it)."
    )
    stop: list[str] = Field(default_factory=list, description="Stop strings; kept at the end of the completion.")
    colocate: bool = Field(
        True, description="Generate inside the trainer actor with the trained module (no weight sync)."
    )
    num_workers: int = Field(1, ge=1, description="Rollout actors when not colocated; prompts are sharded.")
    gpus_per_worker: float | None = Field(
        None, gt=0.0, le=1.0, description="GPU share of each rollout worker when not colocated. Unset: a GPU of its "
        "own when there are enough (vLLM needs one), else the transformers engine shares the learner's. Below 1: "
        "the workers may share the learner's GPU as separate processes, so one large GPU runs asynchronous "
        "rollouts; vLLM then takes rollout.vllm.gpu_memory_utilization of the card (at most this share) and the "
        "weights reach it through Ray's object store (NCCL cannot join two ranks on one GPU).",
    )
    max_staleness: int = Field(
        0, ge=0, description="Asynchronous rollouts: the next steps are generated while the learner trains, "
        "from a policy at most this many updates old (0: synchronous). Needs rollout.colocate=false and "
        "algorithm.sampler_correction tis or mis.",
    )
    compile: bool = Field(
        True, description="GPU fast path: static KV cache, bucketed shapes, compiled decode step with CUDA "
        "graphs (ignored on CPU)."
    )
    capture: Literal["torch_compile", "cuda_graph"] = Field(
        "torch_compile", description="How rollout.compile captures the transformers engine's decode step: "
        "torch.compile's CUDA graphs (a compile per batch size and cache length), or CUDA graphs of the eager "
        "step captured directly (no compile; one extra step per shape)."
    )
    release_cache: bool = Field(
        False, description="Colocated transformers engine: free its KV cache after each generation, so the update "
        "trains in that memory (as rollout.vllm.sleep does for vLLM). The decode graphs are captured again at the "
        "next generation (about 3 extra decode steps per batch size). Needs rollout.capture=cuda_graph."
    )
    engine_batch_size: int | None = Field(
        None, ge=1, description="Completions the transformers engine decodes together. Unset: on a GPU as many "
        "as a quarter of its memory holds in KV cache (a decode step costs about the same for 64 or 1,024 rows), "
        "256 on a CPU. vLLM schedules its own batches.",
    )
    ignore_eos: bool = Field(False, description="Never stop at EOS: every completion is max_completion_tokens long.")
    vllm: VLLMConfig = Field(default_factory=VLLMConfig)

    @field_validator("engine")
    @classmethod
    def _known_engine(cls, value: str) -> str:
        from grpo.rollout.base import engine_names

        return _registered(value, engine_names(), "rollout engine")


def default_label(name: str) -> str:
    """How a verifier's metrics are named when its spec gives no label: a built-in or entry point by
    its name, `module:attr` and `path/file.py:attr` by the attribute (never by a path)."""
    return name.rpartition(":")[2] if ":" in name else name


class EnvConfig(_Section):
    """Multi-turn episodes: the environment answers each policy turn (a tool's output, a game's
    next state) until it says done. Unset `name`: one policy turn, as in R1-Zero."""

    name: str | None = Field(
        None, description="Environment: built-in (`python`), `package.module:attr`, `path/file.py:attr` or a "
        "`grpo.envs` entry point. Unset: single-turn episodes.",
    )
    kwargs: dict[str, Any] = Field(default_factory=dict, description="Keyword arguments of the environment.")
    max_turns: int = Field(
        4, ge=1, description="Policy turns per episode; after the last one the environment is not called. "
        "rollout.max_completion_tokens caps the whole episode (policy and environment tokens).",
    )
    workers: int = Field(16, ge=1, description="Environment steps (tool calls) of different episodes run at once.")


class VerifierSpec(_Section):
    name: str = Field(..., description="Built-in name, `package.module:attr` or `path/file.py:attr`.")
    label: str = Field(
        "", pattern=r"^[^/\s]*$",
        description="Name in metrics (`reward/<label>`) and samples; default: the built-in's name or the "
        "attribute after ':'. Needed when two verifiers would otherwise share one.",
    )
    weight: float = Field(1.0, description="Weight in the summed reward.")
    kwargs: dict[str, Any] = Field(default_factory=dict, description="Keyword arguments of the verifier.")
    timeout: float = Field(10.0, gt=0.0, description="Seconds per batch call before the fallback reward.")
    fallback: float = Field(0.0, description="Reward given when the verifier fails or times out.")

    @model_validator(mode="before")
    @classmethod
    def _default_label(cls, raw: Any) -> Any:
        if isinstance(raw, dict) and not raw.get("label") and isinstance(raw.get("name"), str):
            return {**raw, "label": default_label(raw["name"])}
        return raw


class RewardsConfig(_Section):
    verifiers: list[VerifierSpec] = Field(..., min_length=1, description="Verifiers summed into the reward.")
    correctness: str | None = Field(
        None, description="Verifier (its label or name) whose score (>= 0.5 is correct) defines accuracy; "
        "default: the first."
    )
    num_workers: int = Field(1, ge=1, description="Ray reward actors; completions are sharded across them.")
    warn_after_steps: int = Field(
        10, ge=0, description="Warn (once) when no sample has earned the correctness reward for this many steps; 0: never."
    )
    gpus_per_worker: float = Field(
        0.0, ge=0.0, le=1.0, description="GPU share of each reward actor (a `reward_model` verifier runs on it); on "
        "a single GPU it is taken from the learner's share."
    )
    none_as: Literal["skip", "zero"] = Field(
        "skip",
        description="A verifier returning None (not applicable): 'skip' drops it from that sample's sum "
        "and from its mean; 'zero' counts it as 0.",
    )


class DynamicSamplingConfig(_Section):
    enabled: bool = Field(False, description="Drop groups whose rewards are all equal (DAPO, Yu et al. 2025).")
    max_rounds: int = Field(3, ge=1, description="Generation rounds per step to refill dropped groups.")


class AlgorithmConfig(_Section):
    advantage: str = Field(
        "grpo",
        description="Advantage estimator, a name registered in grpo/algorithms.py (`ADVANTAGES`; each "
        "function's docstring gives its formula and paper).",
    )
    std_scope: Literal["group", "batch", "none"] = Field(
        "group", description="Std that divides grpo advantages: per group (DeepSeekMath), batch, or none."
    )
    epsilon_low: float = Field(0.2, ge=0.0, description="Lower clip of the ratio: 1 - eps_low (PPO 0.2).")
    epsilon_high: float = Field(0.2, ge=0.0, description="Upper clip: 1 + eps_high (DAPO clip-higher: 0.28).")
    importance_level: Literal["token", "sequence"] = Field(
        "token", description="token: PPO/GRPO ratios; sequence: GSPO length-normalised ratio (Zheng et al. 2025)."
    )
    loss_aggregation: Literal["token-mean", "seq-mean-token-mean", "seq-mean-token-sum-norm"] = Field(
        "token-mean",
        description="token-mean (DAPO); seq-mean-token-mean (original GRPO); seq-mean-token-sum-norm "
        "(Dr. GRPO: constant normaliser = max_completion_tokens).",
    )
    beta: float = Field(
        0.0, ge=0.0, description="KL weight; 0 loads no reference model (DAPO, Dr. GRPO drop the KL term)."
    )
    kl_estimator: Literal["k1", "k2", "k3"] = Field(
        "k3", description="KL estimator (Schulman 2020); k3 is DeepSeekMath's unbiased, non-negative one."
    )
    dynamic_sampling: DynamicSamplingConfig = Field(default_factory=DynamicSamplingConfig)
    overlong_filtering: bool = Field(
        False, description="Exclude truncated completions from the loss (DAPO overlong filtering)."
    )
    sampler_correction: Literal["none", "tis", "mis"] = Field(
        "none", description="Correct for the sampler/trainer log-prob mismatch (vLLM's kernels differ from the "
        "trainer's): tis weights each token by min(pi_trainer / pi_sampler, cap) (truncated importance "
        "sampling, Yao et al. 2025); mis drops tokens whose ratio exceeds the cap."
    )
    sampler_is_cap: float = Field(2.0, gt=1.0, description="Cap C of the sampler importance ratio (tis / mis).")

    @field_validator("advantage")
    @classmethod
    def _known_advantage(cls, value: str) -> str:
        from grpo.algorithms import ADVANTAGES

        return _registered(value, sorted(ADVANTAGES), "advantage estimator")


class TrainerConfig(_Section):
    steps: int = Field(100, ge=1, description="Training steps (one rollout batch each).")
    time_limit_minutes: float | None = Field(
        None, gt=0.0, description="Wall-clock limit of one launch: after the first step that ends past it, save "
        "a checkpoint and stop (exit code 75); `--resume` continues. For jobs and lent machines with a time limit. "
        "GRPO and SFT runs and stages; a generate stage resumes from its saved chunks instead.",
    )
    learning_rate: float = Field(1e-6, gt=0.0, description="AdamW learning rate (1e-6 in DeepSeekMath RL).")
    lr_schedule: Literal["constant", "linear", "cosine"] = Field("constant", description="Decay after warmup.")
    warmup_steps: int = Field(0, ge=0, description="Linear warmup steps.")
    weight_decay: float = Field(0.0, ge=0.0, description="AdamW weight decay.")
    adam_betas: tuple[float, float] = Field((0.9, 0.99), description="AdamW betas.")
    max_grad_norm: float = Field(1.0, gt=0.0, description="Clip the global gradient norm to this.")
    epochs_per_step: int = Field(1, ge=1, description="mu: passes over each rollout batch (DeepSeekMath: 1).")
    minibatch_size: int | None = Field(
        None, ge=1, description="Completions per optimizer step; default: the whole batch (one update)."
    )
    microbatch_size: int | None = Field(
        None, ge=1, description="Completions per forward/backward; gradients accumulate up to a minibatch."
    )
    microbatch_tokens: int | None = Field(
        None, ge=1, description="Token budget per forward/backward instead: rows sorted by length and packed so "
        "rows x padded length <= this (at most microbatch_size rows when both are set). On uneven completion "
        "lengths it cuts the padded tokens a fixed row count trains on; the update is the same. With "
        "trainer.packing the budget counts real tokens."
    )
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="Where the policy trains.")
    threads: int | None = Field(None, ge=1, description=(
        "torch CPU threads per actor; default: the cores split between learner ranks, and also between "
        "the rollout workers when rollouts are asynchronous (they compute at the same time)."))
    master_weights: Literal["auto", "fp32", "none"] = Field(
        "auto", description="auto/fp32: the optimizer steps float32 copies of bf16/fp16 weights (an update of "
        "1e-6 is below bf16 resolution and would be lost); none: pure low-precision training (less memory)."
    )
    logprob_chunk_tokens: int = Field(
        512, ge=1, description="Positions per LM-head chunk in log-prob computation (memory: chunk x vocab x 4 B)."
    )
    packing: bool = Field(
        False, description="Padding-free micro-batches: each micro-batch's rows are packed into one sequence and "
        "attention runs per row (PyTorch's varlen FlashAttention on a GPU), so no compute goes to padding. Same "
        "update as padded (tests/test_packing.py); forward + backward of a 1.5B micro-batch with uneven lengths 1.51x "
        "faster on an H200 (docs/throughput.md).",
    )
    expandable_segments: Literal["auto", "on", "off"] = Field(
        "auto", description="The learner's CUDA allocator grows segments instead of carving fixed ones, so memory "
        "freed by one step's uneven tensors is reused by the next (small workload on an H100: 11.1 -> 10.0 GiB held "
        "by the learner, docs/throughput.md). auto: on unless PYTORCH_CUDA_ALLOC_CONF already sets it or the "
        "learner hosts a colocated engine other than the transformers one (vLLM's sleep mode has its own pool).",
    )
    world_size: int = Field(
        1, ge=1, description="Learner processes (Ray actors, one per GPU) forming a torch.distributed group: the "
        "model, gradients and optimizer state are sharded with FSDP2 (one fully_shard per decoder layer). More than 1 "
        "needs rollout.colocate=false (rollout workers generate; the learners train)."
    )
    dist_timeout_s: int = Field(
        600, ge=10, description="Seconds a learner rank waits in a collective before giving up (a dead peer)."
    )


class SFTConfig(_Section):
    """`sft` and `distill` stages: supervised fine-tuning on (prompt, completion) pairs, loss on the
    completion only. The optimizer steps are epochs x rows / batch_size (trainer.steps is not used)."""

    epochs: int = Field(1, ge=1, description="Passes over the SFT dataset (R1 fine-tunes its 800k samples for 2).")
    batch_size: int = Field(32, ge=1, description="Examples per optimizer step; trainer.microbatch_size splits it.")
    completion_column: str = Field("completion", description="Column holding the target completion text.")
    completion_format: str | None = Field(
        None, description="Build the completion from columns instead, e.g. ' <think> {solution} </think> <answer> "
        "{answer} </answer>' (a cold-start set made from a dataset's worked solutions)."
    )
    mask_spans: list[tuple[str, str]] = Field(
        default_factory=list, description="Text from each start marker to its end marker (inclusive) in a target "
        "gets no loss: tool outputs in tool-use traces, [['<output>', '</output>']], as RL masks environment turns.",
    )
    group_by_length: bool = Field(
        True, description="Batch examples of similar length together (less padding; as TRL's group_by_length)."
    )
    max_tokens: int | None = Field(
        None, ge=1, description="Prompt + completion tokens per example; longer ones are dropped with a count "
        "logged. Default: the model's context."
    )


class GenerateConfig(_Section):
    """`generate` stages: rejection sampling. N samples per prompt, keep those every named verifier
    accepts, then filter (R1, Sec. 2.3.3: correct, readable, one language, not repetitive)."""

    samples_per_prompt: int = Field(8, ge=1, description="Samples drawn per prompt (N).")
    num_prompts: int | None = Field(None, ge=1, description="Use only the first N prompts of data.train.")
    accept: list[str] | None = Field(
        None, description="Labels of the verifiers that must accept a sample; default: rewards.correctness."
    )
    accept_threshold: float = Field(0.5, description="A verifier accepts a sample whose score is >= this.")
    min_language_consistency: float | None = Field(
        None, ge=0.0, le=1.0, description="Keep samples whose chain of thought is at least this share in "
        "`language` (R1's language-consistency filter); unset: no filter."
    )
    language: str = Field("en", description="Target language of the language filter (see the `language` verifier).")

    @field_validator("language")
    @classmethod
    def _known_language(cls, value: str) -> str:
        from rewards.builtin.language import SCRIPTS

        return _registered(value, sorted(SCRIPTS), "language")
    min_tokens: int = Field(1, ge=0, description="Drop completions shorter than this many tokens.")
    max_tokens: int | None = Field(None, ge=1, description="Drop completions longer than this many tokens.")
    drop_truncated: bool = Field(True, description="Drop completions cut by rollout.max_completion_tokens.")
    max_repeated_ngrams: float | None = Field(
        0.5, ge=0.0, le=1.0, description="Drop completions whose share of repeated word n-grams exceeds this."
    )
    ngram_size: int = Field(4, ge=1, description="n of the repetition and near-duplicate n-grams.")
    near_duplicate_threshold: float | None = Field(
        0.9, gt=0.0, le=1.0, description="Drop a sample whose n-gram Jaccard similarity to a kept sample of the same "
        "prompt is at least this (exact duplicates always go); unset: exact duplicates only."
    )
    max_per_prompt: int | None = Field(None, ge=1, description="Keep at most this many samples per prompt.")
    format: Literal["jsonl", "parquet"] = Field("jsonl", description="File format of the written dataset.")
    chunk_prompts: int = Field(
        64, ge=1, description="Prompts per chunk; each finished chunk is saved, so --resume continues after it."
    )


class EvalConfig(_Section):
    every_steps: int = Field(0, ge=0, description="Evaluate on the test split every N steps (0: only at the end).")
    at_start: bool = Field(True, description="Evaluate the starting checkpoint before training.")
    num_prompts: int | None = Field(None, ge=1, description="Test prompts per evaluation (all when unset).")
    k: int = Field(1, ge=1, description="Samples per test prompt for pass@k (k=1: greedy accuracy only).")
    temperature: float = Field(1.0, gt=0.0, description="Temperature of the k samples for pass@k.")
    batch_size: int = Field(64, ge=1, description="Prompts generated together.")


class CheckpointConfig(_Section):
    every_steps: int = Field(0, ge=0, description="Save every N steps (0: only at the end).")
    keep_last: int = Field(2, ge=1, description="Checkpoints kept; older ones are deleted.")


class LoggingConfig(_Section):
    samples_per_step: int = Field(8, ge=0, description="Traces written to samples/step_N.jsonl each step.")
    tensorboard: bool = Field(False, description="Also write TensorBoard event files.")
    wandb_project: str | None = Field(None, description="Also log to this Weights & Biases project.")
    mlflow_tracking_uri: str | None = Field(
        None, description="Also log to MLflow at this tracking URI (`file:./mlruns`, `http://127.0.0.1:5000`)."
    )
    mlflow_experiment: str = Field("grpo", description="MLflow experiment the run is logged under.")
    progress: bool = Field(True, description="Print a progress line per step.")


class ClusterConfig(_Section):
    address: str | None = Field(
        None, description="Ray cluster to join ('auto', 'ray://host:10001'); unset: the one in RAY_ADDRESS (as "
        "`ray job submit` sets it), else start a local one."
    )
    num_cpus: int | None = Field(None, ge=1, description="CPUs of the local cluster (default: all).")
    learner_resources: dict[str, float] = Field(
        default_factory=dict, description="Custom Ray resources each learner rank needs: pins the learners to the nodes "
        "started with them (`ray start --resources '{\"learner\": 8}'`)."
    )
    rollout_resources: dict[str, float] = Field(
        default_factory=dict, description="Custom Ray resources each rollout worker needs: pins rollout workers to nodes."
    )


class Recipe(_Section):
    name: str = Field(..., min_length=1, description="Run name; the run folder is output_dir/name.")
    seed: int = Field(0, description="Seeds data order, sampling and initialisation.")
    output_dir: str = Field("runs", description="Parent of the run folder.")
    model: ModelConfig
    data: DataConfig
    rollout: RolloutConfig = Field(default_factory=RolloutConfig)
    rewards: RewardsConfig
    env: EnvConfig = Field(default_factory=EnvConfig)
    algorithm: AlgorithmConfig = Field(default_factory=AlgorithmConfig)
    trainer: TrainerConfig = Field(default_factory=TrainerConfig)
    eval: EvalConfig = Field(default_factory=EvalConfig)
    sft: SFTConfig = Field(default_factory=SFTConfig)
    generate: GenerateConfig = Field(default_factory=GenerateConfig)
    checkpoint: CheckpointConfig = Field(default_factory=CheckpointConfig)
    logging: LoggingConfig = Field(default_factory=LoggingConfig)
    cluster: ClusterConfig = Field(default_factory=ClusterConfig)

    @property
    def batch_size(self) -> int:
        """Completions per step: prompts_per_step x group_size."""
        return self.rollout.prompts_per_step * self.rollout.group_size

    @property
    def run_dir(self) -> Path:
        return Path(self.output_dir) / self.name

    @model_validator(mode="after")
    def _combinations(self) -> "Recipe":
        batch = self.batch_size
        minibatch = self.trainer.minibatch_size or batch
        if minibatch > batch or batch % minibatch:
            raise _combination(
                "trainer.minibatch_size", minibatch,
                f"must divide the batch of {batch} completions (rollout.prompts_per_step x "
                "rollout.group_size); pick a divisor",
            )
        micro = self.trainer.microbatch_size or minibatch
        if micro > minibatch or minibatch % micro:
            raise _combination(
                "trainer.microbatch_size", micro, f"must divide trainer.minibatch_size ({minibatch}); pick a divisor"
            )
        if self.algorithm.advantage == "dr_grpo" and self.algorithm.std_scope != "none":
            # Dr. GRPO's point is removing the std; silently dividing by it would hide a mistake.
            raise _combination(
                "algorithm.std_scope", self.algorithm.std_scope,
                "dr_grpo divides by no std; set algorithm.std_scope=none or use advantage=grpo",
            )
        if self.algorithm.epsilon_low >= 1.0:
            raise _combination("algorithm.epsilon_low", self.algorithm.epsilon_low, "must be < 1 (ratio clip 1-eps)")
        verifiers = self.rewards.verifiers
        labels = [v.label for v in verifiers]
        for later, spec in enumerate(verifiers):
            first = labels.index(spec.label)
            if first != later:
                raise _CombinationError(
                    f"{KEY}rewards.verifiers.{first} ({verifiers[first].name}) and {KEY}rewards.verifiers.{later} ({spec.name}) "
                    f"both log as 'reward/{spec.label}'; give one of them a distinct `label:`"
                )
        choices = labels + [v.name for v in verifiers]
        if self.rewards.correctness is not None and self.rewards.correctness not in choices:
            raise _combination(
                "rewards.correctness", self.rewards.correctness, f"must be one of the verifiers {labels}"
            )
        if self.rollout.release_cache and self.rollout.compile and self.rollout.capture != "cuda_graph":
            # torch.compile's CUDA graphs are recorded against the cache's addresses: a cache freed and
            # allocated again each step would have them re-recorded every step
            raise _combination(
                "rollout.release_cache", True, "needs rollout.capture=cuda_graph (or rollout.compile=false)"
            )
        if self.rollout.engine == "vllm" and self.trainer.device == "cpu":
            raise _combination(
                "rollout.engine", "vllm", "vLLM generates on GPUs only; use rollout.engine=transformers on CPU"
            )
        if self.trainer.world_size > 1 and self.rollout.colocate:
            raise _combination(
                "trainer.world_size", self.trainer.world_size,
                "a sharded learner group generates with separate rollout workers: set rollout.colocate=false "
                "(and rollout.num_workers), or trainer.world_size=1",
            )
        if self.rollout.vllm.share_lora_base and not (self.model.lora.enabled and self.rollout.colocate):
            raise _combination(
                "rollout.vllm.share_lora_base", True,
                "shares the frozen base weights of a LoRA run with a vLLM in the trainer's process: it needs "
                "model.lora.enabled=true and rollout.colocate=true (full fine-tuning changes every weight)",
            )
        if self.rollout.gpus_per_worker is not None and (self.rollout.colocate or self.trainer.world_size > 1):
            raise _combination(
                "rollout.gpus_per_worker", self.rollout.gpus_per_worker,
                "places separate rollout workers beside one learner: it needs rollout.colocate=false and "
                "trainer.world_size=1 (sharded learners place their workers themselves); unset it",
            )
        if (self.rollout.gpus_per_worker is not None and self.rollout.engine in ("vllm", "auto")
                and self.rollout.vllm.gpu_memory_utilization > self.rollout.gpus_per_worker + 1e-9):
            raise _combination(
                "rollout.vllm.gpu_memory_utilization", self.rollout.vllm.gpu_memory_utilization,
                f"is the card's share each vLLM worker takes; with rollout.gpus_per_worker = "
                f"{self.rollout.gpus_per_worker} it must not exceed that share (the rest is the learner's)",
            )
        if self.trainer.world_size > 1 and self.model.lora.enabled:
            raise _combination("model.lora.enabled", True, "LoRA with trainer.world_size > 1 is not supported yet; "
                               "use one learner (LoRA state is small) or full fine-tuning")
        colocated_vllm = self.rollout.colocate and self.rollout.engine in ("vllm", "auto")
        if self.trainer.expandable_segments == "on" and colocated_vllm and self.rollout.vllm.sleep:
            raise _combination(
                "trainer.expandable_segments", "on",
                "vLLM's sleep mode keeps its weights and KV cache in its own memory pool, which expandable segments "
                "break, and a colocated vLLM shares the learner's process: use auto (off here), "
                "rollout.vllm.sleep=false, or rollout.colocate=false",
            )
        if self.rollout.max_staleness > 0 and self.rollout.colocate:
            raise _combination(
                "rollout.max_staleness", self.rollout.max_staleness,
                "asynchronous rollouts overlap generation with training on separate rollout workers: set "
                "rollout.colocate=false (a colocated engine shares the learner's device and process), or 0",
            )
        if self.rollout.max_staleness > 0 and self.algorithm.sampler_correction == "none":
            raise _combination(
                "algorithm.sampler_correction", "none",
                f"rollout.max_staleness = {self.rollout.max_staleness} samples from an older policy; correct the "
                "lag with algorithm.sampler_correction=tis (or mis)",
            )
        if self.eval.k > 1 and self.eval.temperature <= 0:
            raise _combination("eval.temperature", self.eval.temperature, "pass@k needs sampling: temperature > 0")
        return self


# Keys inside cross-field messages start with this marker; the formatter replaces it with the key
# prefix (`stages[2].` in a pipeline, nothing in a plain recipe), so every message names the key
# exactly as the user must write it.
KEY = "\x1f"


class _CombinationError(ValueError):
    pass


def _combination(key: str, value: Any, fix: str) -> _CombinationError:
    return _CombinationError(f"{KEY}{key} = {value!r}: {fix}")


# --------------------------------------------------------------------------- loading


def read_raw(path: str | Path) -> dict[str, Any]:
    """The recipe file as a dict, or a RecipeError saying why it is not one."""
    path = Path(path)
    if not path.is_file():
        raise RecipeError(f"recipe file {str(path)!r} does not exist; pass the path to a YAML recipe")
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise RecipeError(f"recipe {path} is not valid YAML: {err}") from None
    if not isinstance(raw, dict):
        raise RecipeError(f"recipe {path} must be a mapping of sections, got {type(raw).__name__}")
    return raw


def load_recipe(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> Recipe:
    """Read a YAML recipe, apply `key.path=value` overrides, validate, check files exist."""
    raw = read_raw(path)
    for item in overrides:
        apply_override(raw, item)
    if "stages" in raw:
        raise RecipeError(f"recipe {path} has `stages:`: it is a pipeline; load it with grpo.pipeline.load_pipeline")
    recipe = recipe_from_dict(raw)
    for split in ("train", "test"):
        spec = getattr(recipe.data, split)
        if spec is not None and spec.stage is not None:
            raise RecipeError(
                f"data.{split}.stage = {spec.stage!r}: only a stage of a pipeline recipe (one with `stages:`) can "
                f"read an earlier stage's output; use data.{split}.path"
            )
    check_recipe(recipe)
    return recipe


def check_recipe(recipe: Recipe, prefix: str = "", produced: frozenset[str] = frozenset()) -> None:
    """The checks beyond the schema that need the file system or the plugin registry. `produced`:
    paths an earlier pipeline stage will write, which need not exist yet."""
    from grpo.model_source import check_local_checkpoint

    check_paths(recipe, prefix, produced)
    check_local_checkpoint(recipe.model, f"{prefix}model")
    check_verifiers(recipe, prefix)
    check_env(recipe, prefix)
    check_engine(recipe, prefix)
    check_trackers(recipe, prefix)


def check_trackers(recipe: Recipe, prefix: str = "") -> None:
    """A tracker is an optional extra: a missing package is said at load, with the install line."""
    from grpo.tracking import missing_packages

    missing = missing_packages(recipe.logging)
    if missing:
        key, install = missing[0]
        raise RecipeError(f"{prefix}{key}: its package is not installed here; `{install}`, or turn it off")


def check_env(recipe: Recipe, prefix: str = "") -> None:
    """The environment must resolve and accept its kwargs at load; a file path becomes absolute."""
    if recipe.env.name is None:
        return
    from grpo.envs.registry import EnvError, build_env

    target, _, attr = recipe.env.name.rpartition(":")
    if target.endswith(".py"):
        recipe.env.name = f"{Path(target).expanduser().resolve()}:{attr}"
    try:
        factory = build_env(recipe.env.name, recipe.env.kwargs)
    except EnvError as err:
        raise RecipeError(f"{prefix}env.name = {recipe.env.name!r}: {err}") from None
    try:
        factory()  # one instance now: bad kwarg values fail at load, not in a rollout worker
    except (TypeError, ValueError) as err:
        raise RecipeError(f"{prefix}env.kwargs = {recipe.env.kwargs!r}: {recipe.env.name} refused them: {err}") from None


def check_engine(recipe: Recipe, prefix: str = "") -> None:
    """vLLM is an optional extra: say so at load, not from deep inside an actor."""
    if recipe.rollout.engine != "vllm":
        return
    import importlib.util

    if importlib.util.find_spec("vllm") is None:
        raise RecipeError(
            f"{prefix}rollout.engine = 'vllm': vLLM is not installed here. Install the extra (`pip install "
            "'grpo[vllm]'`, Linux + NVIDIA GPU) or set rollout.engine=transformers"
        )


def check_verifiers(recipe: Recipe, prefix: str = "") -> None:
    """Every verifier must resolve now, not in a worker an hour in; file paths become absolute so
    Ray workers in other directories find them."""
    from rewards.base import VerifierError
    from rewards.registry import check_signature, resolve

    for index, spec in enumerate(recipe.rewards.verifiers):
        target, _, attr = spec.name.rpartition(":")
        if target.endswith(".py"):
            spec.name = f"{Path(target).expanduser().resolve()}:{attr}"
        try:
            check_signature(spec.name, resolve(spec.name), spec.kwargs)
        except VerifierError as err:
            raise RecipeError(f"{prefix}rewards.verifiers.{index}.name = {spec.name!r}: {err}") from None


def apply_override(raw: dict[str, Any], item: str) -> None:
    """Set `a.b.c=value` in the nested dict; the value is parsed as YAML (numbers, lists, null)."""
    if "=" not in item:
        raise RecipeError(f"override {item!r} must look like key.path=value (e.g. trainer.learning_rate=3e-6)")
    key, _, text = item.partition("=")
    parts = key.strip().split(".")
    if not all(parts):
        raise RecipeError(f"override {item!r} has an empty key part; use dotted names like rollout.group_size=8")
    value = yaml.safe_load(text) if text.strip() else None
    node = raw
    for part in parts[:-1]:
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        if not isinstance(child, dict):
            raise RecipeError(f"override {item!r}: {part!r} is a value, not a section")
        node = child
    node[parts[-1]] = value


def recipe_from_dict(raw: dict[str, Any], prefix: str = "") -> Recipe:
    """Validate a recipe; `prefix` goes before every key in errors (a pipeline passes `stages[2].`)."""
    try:
        return Recipe.model_validate(raw)
    except ValidationError as err:
        raise RecipeError(_format_errors(err, raw, prefix)) from None


def check_paths(recipe: Recipe, prefix: str = "", produced: frozenset[str] = frozenset()) -> None:
    """Local paths must exist; a path-like value that does not is almost always a typo."""
    candidates = [("model.path", recipe.model.path), ("model.tokenizer", recipe.model.tokenizer)]
    for split in ("train", "test"):
        spec = getattr(recipe.data, split)
        if spec is not None and spec.path is not None:
            candidates.append((f"data.{split}.path", spec.path))
    for key, value in candidates:
        if value and value not in produced and looks_local(value) and not Path(value).exists():
            if key == "model.path" and recipe.model.build_command:
                raise RecipeError(
                    f"{prefix}model.path = {value!r} does not exist yet: this recipe's model is built locally by "
                    f"`{recipe.model.build_command}`; run that first, or set model.path=DIR to a checkpoint you have"
                )
            raise RecipeError(
                f"{prefix}{key} = {value!r}: no such file or directory (relative paths are read from the current "
                f"directory {Path.cwd()}); fix the path or run from the directory the recipe expects"
            )


def looks_local(value: str) -> bool:
    """Hub ids look like 'org/name'; anything with a file suffix, ./, ../ or / prefix is local."""
    return (
        value.startswith(("/", "./", "../", "~"))
        or Path(value).suffix in {".jsonl", ".json", ".parquet", ".csv", ".arrow"}
        or value.count("/") >= 2
        or Path(value).exists()
    )


def _format_errors(err: ValidationError, raw: dict[str, Any], prefix: str = "") -> str:
    lines = [f"recipe has {err.error_count()} error(s):"]
    for item in err.errors():
        loc = [str(p) for p in item["loc"]]
        key = prefix + (".".join(loc) or "<recipe>")
        if item["type"] == "extra_forbidden":
            lines.append(f"  - unknown key {key!r}{_suggest(loc, prefix)}; remove it or fix its spelling")
            continue
        if item["type"] == "missing":
            lines.append(f"  - {key} is required: {_help(loc)}")
            continue
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "value_error" and isinstance(item.get("ctx", {}).get("error"), _CombinationError):
            lines.append(f"  - {message.replace(KEY, prefix)}")
            continue
        value = item.get("input")
        lines.append(f"  - {key} = {value!r}: {message}. ({_help(loc)})")
    return "\n".join(lines)


def _field_at(loc: list[str]) -> tuple[type[BaseModel] | None, str | None]:
    model: type[BaseModel] | None = Recipe
    loc = [part for part in loc if not part.isdigit()]  # list indices carry no schema
    for part in loc[:-1]:
        if model is None or part not in model.model_fields:
            return None, None
        annotation = model.model_fields[part].annotation
        model = _model_in(annotation)
    return model, (loc[-1] if loc else None)


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def _help(loc: list[str]) -> str:
    model, name = _field_at(loc)
    if model is not None and name in model.model_fields:
        return model.model_fields[name].description or "see the recipe reference"
    return "see the recipe reference in README.md"


def _suggest(loc: list[str], prefix: str = "") -> str:
    model, name = _field_at(loc)
    if model is None or name is None:
        return ""
    close = difflib.get_close_matches(name, list(model.model_fields), n=1)
    return f" (did you mean {prefix + '.'.join(loc[:-1] + close)!r}?)" if close else ""


def dump_recipe(recipe: Recipe) -> str:
    """The resolved recipe as YAML, written into the run folder so a run can be reproduced."""
    return yaml.safe_dump(recipe.model_dump(mode="json"), sort_keys=False)
