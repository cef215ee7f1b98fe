"""benchmarks/verl_row.py's pure parts: the tokenizer verl needs, and reading verl's console log."""

from __future__ import annotations

import json

import pytest

from benchmarks.realistic_step import build_workload
from benchmarks.verl_row import chat_tokenizer, parse_steps, summarize


def test_chat_tokenizer_gives_verl_its_newline_and_im_end_and_keeps_every_prompt(tmp_path):
    from transformers import AutoTokenizer

    build_workload(tmp_path, tiny=True)
    words = AutoTokenizer.from_pretrained(tmp_path / "tokenizer")
    chat_tokenizer(words).save_pretrained(tmp_path / "chat")
    chat = AutoTokenizer.from_pretrained(tmp_path / "chat")  # as verl loads it
    # verl 0.9.1's Qwen token builder: "\n" one token, "<|im_end|>" a known id
    assert chat.encode("\n", add_special_tokens=False) == [1]
    assert chat.convert_tokens_to_ids("<|im_end|>") == 2
    assert len(chat) == len(words)
    for line in (tmp_path / "prompts.jsonl").read_text().splitlines()[:20]:
        prompt = json.loads(line)["prompt"]
        assert chat.encode(prompt) == words.encode(prompt)
        assert chat.apply_chat_template([{"role": "user", "content": prompt}], tokenize=False) == prompt
    assert chat.decode([5, 7]) == words.decode([5, 7]) == "t5 t7"


def test_parse_steps_reads_verl_console_lines():
    log = ("(TaskRunner pid=1) step:1 - timing_s/step:50.5 - timing_s/gen:20.0 - note:text\n"
           "noise\n"
           "(TaskRunner pid=1) step:2 - timing_s/step:40.0 - timing_s/gen:18.0 - timing_s/update_actor:12.0\n")
    steps = parse_steps(log)
    assert steps == [{"step": 1.0, "timing_s/step": 50.5, "timing_s/gen": 20.0},
                     {"step": 2.0, "timing_s/step": 40.0, "timing_s/gen": 18.0, "timing_s/update_actor": 12.0}]


def test_summarize_drops_warmup_steps_and_their_lengths():
    steps = [{"timing_s/step": 90.0, "timing_s/gen": 60.0},
             {"timing_s/step": 40.0, "timing_s/gen": 18.0, "timing_s/update_actor": 12.0, "timing_s/old_log_prob": 3.0,
              "actor/perf/max_memory_allocated_gb": 30.5}]
    # 4 completions a step; a third step was scored (its lengths written) but stopped before its line
    lengths = [1000] * 4 + [100, 200, 300, 400] + [7] * 4
    result = summarize(steps, warmup=1, lengths=lengths, per_step=4)
    assert result["step_seconds"] == [40.0]
    assert result["split"]["time/generate"] == 18.0 and result["split"]["time/train"] == 15.0
    assert result["peak_gib"] == 30.5
    assert result["lengths"]["mean"] == pytest.approx(250.0) and result["lengths"]["count"] == 4
    with pytest.raises(ValueError, match="no measured step"):
        summarize(steps[:1], warmup=1, lengths=[], per_step=4)


def test_summarize_reads_the_peak_under_its_older_name():
    steps = [{"timing_s/step": 40.0, "perf/max_memory_allocated_gb": 12.0}]
    assert summarize(steps, warmup=0, lengths=[5, 6], per_step=2)["peak_gib"] == 12.0


def test_tuned_setting_adds_its_overrides_once_each(tmp_path):
    from benchmarks.verl_row import ROWS, SETTINGS, overrides

    default = overrides(tmp_path, tmp_path / "d.parquet", tmp_path / "tok", 3)
    tuned = overrides(tmp_path, tmp_path / "d.parquet", tmp_path / "tok", 3, "tuned")
    assert tuned[: len(default)] == default and tuned[len(default):] == SETTINGS["tuned"]
    keys = [item.split("=", 1)[0].lstrip("+") for item in tuned]
    assert len(keys) == len(set(keys))  # Hydra would keep only the last of a repeated key
    assert "actor_rollout_ref.actor.fsdp_config.model_dtype=bf16" in tuned  # pure bf16, as every other row
    assert set(ROWS) == set(SETTINGS) and len(set(ROWS.values())) == len(ROWS)


def test_versions_names_what_is_installed_and_skips_what_is_not():
    import torch
    import transformers

    from benchmarks.realistic_step import versions

    found = versions(("pydantic", "no-such-package-grpo"))
    assert found["torch"] == torch.__version__ and found["transformers"] == transformers.__version__
    assert "pydantic" in found and "no-such-package-grpo" not in found
