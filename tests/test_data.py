"""Dataset loading (JSONL, Parquet, datasets dirs), column mapping, templates, prompt order."""

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pydantic import ValidationError

from grpo.config import DataConfig, DatasetConfig
from grpo.data import R1_ZERO_TEMPLATE, DataError, PromptSampler, load_rows, map_columns, render_prompt

ROWS = [{"question": f"q{i}", "final": str(i), "extra": i * 2} for i in range(5)]


def config(**kw):
    return DataConfig(train=DatasetConfig(task="arithmetic", num_samples=4), **kw)


def test_jsonl_parquet_and_datasets_dir(tmp_path):
    jsonl = tmp_path / "d.jsonl"
    jsonl.write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    parquet = tmp_path / "d.parquet"
    pq.write_table(pa.Table.from_pylist(ROWS), parquet)
    import datasets

    saved = tmp_path / "saved"
    datasets.DatasetDict({"train": datasets.Dataset.from_list(ROWS)}).save_to_disk(str(saved))
    for path in (jsonl, parquet, saved):
        rows = load_rows(DatasetConfig(path=str(path), num_samples=3), "data.train")
        assert rows == ROWS[:3], path


def test_bad_jsonl_line_names_the_line(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"a": 1}\nnot json\n')
    with pytest.raises(DataError, match="line 2"):
        load_rows(DatasetConfig(path=str(path)), "data.train")


def test_missing_split_in_datasets_dir(tmp_path):
    import datasets

    saved = tmp_path / "saved"
    datasets.DatasetDict({"train": datasets.Dataset.from_list(ROWS)}).save_to_disk(str(saved))
    with pytest.raises(DataError, match="data.test.split = 'test'"):
        load_rows(DatasetConfig(path=str(saved), split="test"), "data.test")


def test_column_mapping_keeps_other_columns():
    mapped = map_columns(ROWS, config(prompt_column="question", answer_column="final"), "data.train")
    assert mapped[1]["prompt"] == "q1" and mapped[1]["answer"] == "1" and mapped[1]["extra"] == 2
    with pytest.raises(DataError, match="data.prompt_column = 'prompt'"):
        map_columns([{"text": "q", "final": "1"}], config(), "data.train")
    # GSM8K's `question` is a known layout: read without a mapping
    assert map_columns(ROWS, config(answer_column="final"), "data.train")[1]["prompt"] == "q1"


def test_unknown_task_and_bad_task_kwargs():
    with pytest.raises(ValidationError, match="unknown task.*registered: arithmetic, countdown"):
        DatasetConfig(task="sudoku", num_samples=3)  # the schema checks names against grpo.tasks.TASKS
    with pytest.raises(DataError, match="task_kwargs"):
        load_rows(DatasetConfig(task="arithmetic", num_samples=3, task_kwargs={"digit": 2}), "data.train")


def test_templates():
    assert render_prompt("What is 1 + 2?", config(), None) == R1_ZERO_TEMPLATE.format(prompt="What is 1 + 2?")
    assert render_prompt("hi", config(template="plain"), None) == "hi"
    chat = [{"role": "system", "content": "s"}, {"role": "user", "content": "What?"}]
    assert render_prompt(chat, config(), None).endswith("User: What?. Assistant:")

    class ChatTokenizer:
        chat_template = "x"

        def apply_chat_template(self, messages, tokenize, add_generation_prompt):
            return "|".join(f"{m['role']}:{m['content']}" for m in messages) + ("|assistant:" if add_generation_prompt else "")

    assert render_prompt("Q", config(template="chat", system_prompt="S"), ChatTokenizer()) == "system:S|user:Q|assistant:"
    with pytest.raises(DataError, match="no chat template"):
        render_prompt("Q", config(template="chat"), object())


def test_prompt_sampler_is_a_function_of_step():
    rows = [{"prompt": str(i)} for i in range(10)]
    sampler = PromptSampler(rows, 3, seed=0)
    first_epoch = [r["prompt"] for s in range(3) for r in sampler.batch(s)]
    assert len(set(first_epoch)) == 9  # no repeats within an epoch
    again = PromptSampler(rows, 3, seed=0)
    assert [r["prompt"] for r in again.batch(2)] == [r["prompt"] for r in sampler.batch(2)]
    assert sampler.batch(3) != sampler.batch(0) or sampler.batch(4) != sampler.batch(1)  # reshuffled next epoch
    with pytest.raises(DataError, match="prompts_per_step"):
        PromptSampler(rows, 11, seed=0)


def test_prompt_format_builds_prompts_from_columns():
    rows = [{"nums": [3, 5], "target": 8}]
    mapped = map_columns(rows, config(prompt_format="Use {nums} to make {target}."), "data.train")
    assert mapped[0]["prompt"] == "Use [3, 5] to make 8." and mapped[0]["nums"] == [3, 5]
    with pytest.raises(DataError, match="data.prompt_format"):
        map_columns(rows, config(prompt_format="{missing}"), "data.train")


def test_verl_and_open_r1_layouts_load_without_a_mapping(capsys):
    from grpo.config import DataConfig, DatasetConfig

    config = DataConfig(train=DatasetConfig(task="arithmetic", num_samples=1))
    verl = [{"data_source": "arith", "prompt": [{"role": "user", "content": "What is 2 + 2?"}],
             "reward_model": {"style": "rule", "ground_truth": "4"}, "extra_info": {"index": 0}}]
    [row] = map_columns(verl, config, "data.train")
    assert row["prompt"] == [{"role": "user", "content": "What is 2 + 2?"}] and row["answer"] == "4"
    assert "answer_column=reward_model.ground_truth" in capsys.readouterr().out
    open_r1 = [{"problem": "Find x.", "solution": "... \\boxed{3}", "answer": "3"}]
    [row] = map_columns(open_r1, config, "data.train")
    assert row["prompt"] == "Find x." and row["answer"] == "3"
    math = [{"problem": "Find y.", "solution": "so \\boxed{5}"}]
    assert map_columns(math, config, "data.train")[0]["answer"] == "so \\boxed{5}"
    # a recipe that names its columns is never second-guessed
    named = config.model_copy(update={"prompt_column": "problem", "answer_column": "final"})
    assert "answer" not in map_columns(math, named, "data.train")[0]
